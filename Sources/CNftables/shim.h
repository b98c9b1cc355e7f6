// libnftables: the nft command interpreter as a library. The Firewall module hands it one
// JSON batch per operation, which it applies as a single netlink transaction.
// libnftnl: the library libnftables builds its netlink messages with; the Firewall writes the
// set elements of published ports through it directly (NftnlElements.swift).
// Headers only: the Firewall opens both libraries with dlopen when it first needs them
// (NftablesLibrary.swift, NftnlElements.swift), so nothing links against them.
#include <nftables/libnftables.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
