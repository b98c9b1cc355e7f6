#if canImport(Glibc)
import Glibc
#endif
import CNetlink
import CNftables
@testable import Firewall

/// libnftnl, loaded here only: the batches ``NftnlElements`` writes itself are compared with
/// the bytes libnftnl (what libnftables builds its messages with) writes for the same
/// messages. `nil` where libnftnl is not installed.
struct LibnftnlReference {
    let setAlloc: @convention(c) () -> OpaquePointer?
    let setFree: @convention(c) (OpaquePointer?) -> Void
    let setString: @convention(c) (OpaquePointer?, UInt16, UnsafePointer<CChar>?) -> Int32
    let elementAlloc: @convention(c) () -> OpaquePointer?
    let elementSet: @convention(c) (OpaquePointer?, UInt16, UnsafeRawPointer?, UInt32) -> Int32
    let elementAdd: @convention(c) (OpaquePointer?, OpaquePointer?) -> Void
    let buildHeader: @convention(c) (UnsafeMutablePointer<CChar>?, UInt16, UInt16, UInt16, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let buildElements: @convention(c) (UnsafeMutablePointer<nlmsghdr>?, OpaquePointer?) -> Void
    let batchBegin: @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let batchEnd: @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
    let userDataAlloc: @convention(c) (UInt32) -> OpaquePointer?
    let userDataFree: @convention(c) (OpaquePointer?) -> Void
    let userDataPutString: @convention(c) (OpaquePointer?, UInt8, UnsafePointer<CChar>?) -> Bool
    let userDataBytes: @convention(c) (OpaquePointer?) -> UnsafeMutableRawPointer?
    let userDataLength: @convention(c) (OpaquePointer?) -> UInt32

    init?() {
        guard let handle = dlopen("libnftnl.so.11", RTLD_NOW | RTLD_LOCAL) else { return nil }
        func symbol<T>(_ name: String) -> T? { dlsym(handle, name).map { unsafeBitCast($0, to: T.self) } }
        guard let setAlloc: @convention(c) () -> OpaquePointer? = symbol("nftnl_set_alloc"),
              let setFree: @convention(c) (OpaquePointer?) -> Void = symbol("nftnl_set_free"),
              let setString: @convention(c) (OpaquePointer?, UInt16, UnsafePointer<CChar>?) -> Int32 = symbol("nftnl_set_set_str"),
              let elementAlloc: @convention(c) () -> OpaquePointer? = symbol("nftnl_set_elem_alloc"),
              let elementSet: @convention(c) (OpaquePointer?, UInt16, UnsafeRawPointer?, UInt32) -> Int32 = symbol("nftnl_set_elem_set"),
              let elementAdd: @convention(c) (OpaquePointer?, OpaquePointer?) -> Void = symbol("nftnl_set_elem_add"),
              let buildHeader: @convention(c) (UnsafeMutablePointer<CChar>?, UInt16, UInt16, UInt16, UInt32) -> UnsafeMutablePointer<nlmsghdr>?
                = symbol("nftnl_nlmsg_build_hdr"),
              let buildElements: @convention(c) (UnsafeMutablePointer<nlmsghdr>?, OpaquePointer?) -> Void = symbol("nftnl_set_elems_nlmsg_build_payload"),
              let batchBegin: @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>? = symbol("nftnl_batch_begin"),
              let batchEnd: @convention(c) (UnsafeMutablePointer<CChar>?, UInt32) -> UnsafeMutablePointer<nlmsghdr>? = symbol("nftnl_batch_end"),
              let userDataAlloc: @convention(c) (UInt32) -> OpaquePointer? = symbol("nftnl_udata_buf_alloc"),
              let userDataFree: @convention(c) (OpaquePointer?) -> Void = symbol("nftnl_udata_buf_free"),
              let userDataPutString: @convention(c) (OpaquePointer?, UInt8, UnsafePointer<CChar>?) -> Bool = symbol("nftnl_udata_put_strz"),
              let userDataBytes: @convention(c) (OpaquePointer?) -> UnsafeMutableRawPointer? = symbol("nftnl_udata_buf_data"),
              let userDataLength: @convention(c) (OpaquePointer?) -> UInt32 = symbol("nftnl_udata_buf_len")
        else { return nil }
        self.setAlloc = setAlloc
        self.setFree = setFree
        self.setString = setString
        self.elementAlloc = elementAlloc
        self.elementSet = elementSet
        self.elementAdd = elementAdd
        self.buildHeader = buildHeader
        self.buildElements = buildElements
        self.batchBegin = batchBegin
        self.batchEnd = batchEnd
        self.userDataAlloc = userDataAlloc
        self.userDataFree = userDataFree
        self.userDataPutString = userDataPutString
        self.userDataBytes = userDataBytes
        self.userDataLength = userDataLength
    }

    /// The batch as libnftnl writes it: what the firewall sent before it wrote batches itself.
    func batch(_ messages: [NftnlElements.Message], family: UInt16, table: String) -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: 65536)
        let length = buffer.withUnsafeMutableBufferPointer { base -> Int in
            guard let start = base.baseAddress else { return 0 }
            var offset = 0
            var sequence: UInt32 = 1
            func advance(_ header: UnsafeMutablePointer<nlmsghdr>?) {
                offset += Int(cnetlink_align(header?.pointee.nlmsg_len ?? 0))
                sequence += 1
            }
            advance(batchBegin(start + offset, sequence))
            for message in messages {
                let header = buildHeader(start + offset, message.type, family, message.flags, sequence)
                guard let set = setAlloc() else { return 0 }
                _ = setString(set, UInt16(NFTNL_SET_TABLE.rawValue), table)
                _ = setString(set, UInt16(NFTNL_SET_NAME.rawValue), message.set)
                for (key, data, comment) in message.elements {
                    guard let element = elementAlloc() else { return 0 }
                    elementAdd(set, element)
                    _ = key.withUnsafeBytes { elementSet(element, UInt16(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
                    if let data {
                        _ = data.withUnsafeBytes { elementSet(element, UInt16(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
                    }
                    if let comment, let userData = userDataAlloc(UInt32(Nftables.Element.maximumCommentLength + 8)) {
                        _ = userDataPutString(userData, UInt8(NFTNL_UDATA_SET_ELEM_COMMENT.rawValue), comment)
                        _ = elementSet(element, UInt16(NFTNL_SET_ELEM_USERDATA), userDataBytes(userData), userDataLength(userData))
                        userDataFree(userData)
                    }
                }
                buildElements(header, set)
                setFree(set)
                advance(header)
            }
            advance(batchEnd(start + offset, sequence))
            return offset
        }
        return buffer[0..<length].map { UInt8(bitPattern: $0) }
    }
}
