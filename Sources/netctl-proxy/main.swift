#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import PortProxy

// The userland port proxy: see ProxyCommand for the command line.
exit(ProxyCommand.main(CommandLine.arguments))
