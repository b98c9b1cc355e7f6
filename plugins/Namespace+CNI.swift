import CNI
import Namespaces
import NetCore

extension CNIRequest {
    /// `CNI_NETNS`, which ADD and CHECK require.
    func requireNetns() throws -> String {
        guard let netns else { throw CNIError(.invalidEnvironment, "required env variables [CNI_NETNS] missing") }
        return netns
    }
}

/// Opens the container's namespace; a path that does not exist is code 3 (unknown container).
func openNamespace(_ path: String) throws -> NetNamespace {
    do {
        return try NetNamespace.open(path: path)
    } catch let error as NetworkError where error.code == .notFound {
        throw CNIError(.unknownContainer, "network namespace \"\(path)\" does not exist")
    } catch let error as NetworkError where error.code == .invalidArgument {
        throw CNIError(.invalidNetNS, "CNI_NETNS \"\(path)\" is not a network namespace")
    }
}

/// The container's namespace, or `nil` when it is already gone (DEL must then succeed).
func openNamespaceIfPresent(_ path: String) throws -> NetNamespace? {
    do {
        return try NetNamespace.open(path: path)
    } catch let error as NetworkError where error.code == .notFound || error.code == .invalidArgument {
        return nil
    }
}
