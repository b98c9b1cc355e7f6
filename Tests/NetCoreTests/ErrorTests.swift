import Glibc
import NetCore
import Testing

private struct Unrelated: Error, Sendable {}

@Suite struct NetworkErrorTests {
    @Test func invalidNamesTheFieldAndValueAndIsAnInvalidArgument() {
        let error = NetworkError.invalid("subnet", "10.0.0.0/33", "prefix too long")
        #expect(error.code == .invalidArgument)
        #expect(error.message == #"invalid subnet "10.0.0.0/33": prefix too long"#)
        #expect(error.cause == nil)
        #expect(error.description == error.message)
        #expect(error.errno == Errno(rawValue: 0))
    }

    @Test func descriptionAppendsTheCause() {
        let error = NetworkError(code: .alreadyExists, message: "bridge \"br0\" exists", cause: Errno.fileExists)
        #expect(error.description == "bridge \"br0\" exists: File exists")
        let wrapped = NetworkError(
            code: .system, message: "cannot lock",
            cause: SystemCallError(.resourceBusy, call: "flock", subject: "/run/x"))
        #expect(wrapped.description == "cannot lock: flock /run/x: Device or resource busy")
    }

    @Test func errnoComesFromTheCause() {
        #expect(NetworkError(code: .system, message: "m", cause: Errno.fileExists).errno == .fileExists)
        let syscall = SystemCallError(.noSuchDevice, call: "ioctl", subject: "eth9")
        #expect(NetworkError(code: .system, message: "m", cause: syscall).errno == .noSuchDevice)
        let inner = NetworkError(code: .system, message: "inner", cause: Errno.resourceBusy)
        #expect(NetworkError(code: .busy, message: "outer", cause: inner).errno == .resourceBusy)
        #expect(NetworkError(code: .system, message: "m", cause: Unrelated()).errno.rawValue == 0)
        #expect(NetworkError(code: .system, message: "m").errno.rawValue == 0)
    }

    @Test func codesHaveStableNames() {
        #expect(NetworkError.Code.allCases.count == 9)
        #expect(Set(NetworkError.Code.allCases.map(\.rawValue)).count == 9)
        #expect(NetworkError.Code.invalidArgument.rawValue == "invalidArgument")
        #expect(NetworkError.Code(rawValue: "alreadyExists") == .alreadyExists)
    }
}

@Suite struct ErrnoTests {
    @Test(arguments: [
        (Errno.notPermitted, EPERM), (.noSuchFileOrDirectory, ENOENT), (.noSuchProcess, ESRCH), (.interrupted, EINTR),
        (.resourceTemporarilyUnavailable, EAGAIN), (.permissionDenied, EACCES), (.resourceBusy, EBUSY),
        (.fileExists, EEXIST), (.noSuchDevice, ENODEV), (.invalidArgument, EINVAL), (.noSpace, ENOSPC),
        (.outOfRange, ERANGE), (.notSupported, EOPNOTSUPP), (.addressInUse, EADDRINUSE),
        (.addressNotAvailable, EADDRNOTAVAIL), (.networkUnreachable, ENETUNREACH), (.noBufferSpace, ENOBUFS),
        (.protocolError, EPROTO), (.messageTooLong, EMSGSIZE),
    ])
    func namedConstantsCarryTheirPOSIXNumbers(errno: Errno, raw: Int32) {
        #expect(errno.rawValue == raw)
        #expect(errno == Errno(rawValue: raw))
    }

    @Test func descriptionIsStrerror() {
        #expect(Errno.fileExists.description == "File exists")
        #expect(Errno.noSuchFileOrDirectory.description == "No such file or directory")
    }

    @Test func currentReadsTheThreadsErrno() {
        Glibc.errno = ENODEV
        #expect(Errno.current == .noSuchDevice)
        Glibc.errno = 0
        #expect(Errno.current.rawValue == 0)
    }

    @Test func patternMatchesABareErrno() {
        #expect(Errno.fileExists ~= Errno.fileExists)
        #expect(!(Errno.fileExists ~= Errno.resourceBusy))
    }

    @Test func patternMatchesASystemCallError() {
        let error = SystemCallError(.fileExists, call: "mkdir", subject: "/run/netns")
        #expect(Errno.fileExists ~= error)
        #expect(!(Errno.noSuchFileOrDirectory ~= error))
    }

    @Test func patternMatchesANetworkErrorWhoseCauseCarriesTheErrno() {
        let direct = NetworkError(code: .alreadyExists, message: "m", cause: Errno.fileExists)
        let viaSyscall = NetworkError(
            code: .alreadyExists, message: "m", cause: SystemCallError(.fileExists, call: "open", subject: "/x"))
        let nested = NetworkError(code: .system, message: "outer", cause: viaSyscall)
        #expect(Errno.fileExists ~= direct)
        #expect(Errno.fileExists ~= viaSyscall)
        #expect(Errno.fileExists ~= nested)
        #expect(!(Errno.resourceBusy ~= direct))
    }

    @Test func patternDoesNotMatchErrorsWithoutAnErrno() {
        #expect(!(Errno.fileExists ~= Unrelated()))
        #expect(!(Errno.fileExists ~= NetworkError.invalid("a", "b", "c")))
        #expect(!(Errno.fileExists ~= NetworkError(code: .system, message: "m", cause: Unrelated())))
    }

    @Test(arguments: [
        Errno.fileExists,
        SystemCallError(.fileExists, call: "mkdir", subject: "/x"),
        NetworkError(code: .alreadyExists, message: "m", cause: Errno.fileExists),
        NetworkError(code: .alreadyExists, message: "m", cause: SystemCallError(.fileExists, call: "open", subject: "/x")),
    ] as [any Error & Sendable])
    func catchClauseMatchesAnErrorCarryingTheErrno(error: any Error & Sendable) {
        var caught = "none"
        do {
            throw error
        } catch Errno.resourceBusy {
            caught = "busy"
        } catch Errno.fileExists {
            caught = "exists"
        } catch {
            caught = "other"
        }
        #expect(caught == "exists")
    }

    @Test func systemCallErrorNamesTheCallAndSubject() {
        let error = SystemCallError(.noSuchFileOrDirectory, call: "open", subject: "/run/netns/blue")
        #expect(error.errno == .noSuchFileOrDirectory)
        #expect(error.call == "open")
        #expect(error.subject == "/run/netns/blue")
        #expect(error.description == "open /run/netns/blue: No such file or directory")
    }
}

@Suite struct SystemCallTests {
    @Test(arguments: [Int32(0), 1, 42, -2, .min, .max])
    func returnsAnyResultButMinusOne(result: Int32) throws {
        #expect(try systemCall("fake") { result } == result)
    }

    @Test func retriesWhileInterrupted() throws {
        var calls = 0
        let result = try systemCall("fake", "subject") { () -> Int32 in
            calls += 1
            if calls <= 3 {
                Glibc.errno = EINTR
                return -1
            }
            return 7
        }
        #expect(result == 7)
        #expect(calls == 4)
    }

    @Test func throwsTheErrnoNamingCallAndSubjectWithoutRetrying() {
        var calls = 0
        let error = #expect(throws: SystemCallError.self) {
            try systemCall("bind", "10.0.0.1:53") { () -> Int32 in
                calls += 1
                Glibc.errno = EADDRINUSE
                return -1
            }
        }
        #expect(calls == 1)
        #expect(error?.errno == .addressInUse)
        #expect(error?.call == "bind")
        #expect(error?.subject == "10.0.0.1:53")
    }

    @Test func interruptedThenFailedThrowsTheLaterErrno() {
        var calls = 0
        let error = #expect(throws: SystemCallError.self) {
            try systemCall("fake") { () -> Int in
                calls += 1
                Glibc.errno = calls == 1 ? EINTR : EBUSY
                return -1
            }
        }
        #expect(calls == 2)
        #expect(error?.errno == .resourceBusy)
        #expect(error?.subject == "")
    }

    @Test func realFailingCallReportsItsErrno() {
        let path = "/nonexistent-netctl-test/\(UInt32.random(in: 0...UInt32.max))"
        let error = #expect(throws: SystemCallError.self) {
            try systemCall("open", path) { open(path, O_RDONLY) }
        }
        #expect(error?.errno == .noSuchFileOrDirectory)
        #expect(error?.description == "open \(path): No such file or directory")
        #expect(error.map { Errno.noSuchFileOrDirectory ~= $0 } == true)
    }
}
