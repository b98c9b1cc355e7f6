// libnftables: the nft command interpreter as a library. The Firewall module hands it one
// JSON batch per operation, which it applies as a single netlink transaction.
// Header only: the Firewall opens the library with dlopen when it first needs it
// (NftablesLibrary.swift), so nothing links against it.
#include <nftables/libnftables.h>
