#if canImport(Glibc)
import Glibc
#endif

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32
#endif

/// The main of every fuzz target: built with FUZZING (and -sanitize=fuzzer) it hands `one`
/// to libFuzzer's driver; without, it replays the files given as arguments, which is how a
/// crash the fuzzer found becomes a regression test (each target's corpus/).
public enum FuzzDriver {
    public static func main(_ one: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Never {
        #if FUZZING
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, one))
        #else
        for path in CommandLine.arguments.dropFirst() {
            guard let file = fopen(path, "rb") else { continue }
            var bytes: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = fread(&buffer, 1, buffer.count, file)
                if count <= 0 { break }
                bytes += buffer[..<count]
            }
            fclose(file)
            bytes.append(0) // never an empty buffer: its address is what the target reads from
            _ = bytes.withUnsafeBufferPointer { pointer in pointer.baseAddress.map { one($0, pointer.count - 1) } }
        }
        exit(0)
        #endif
    }
}
