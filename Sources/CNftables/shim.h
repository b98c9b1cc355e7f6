// libnftables: the nft command interpreter as a library. The Firewall module hands it one
// JSON batch per operation, which it applies as a single netlink transaction.
// libnftnl: the library libnftables builds its netlink messages with. The Firewall writes the
// set elements of published ports itself, as libnftnl lays them out (NftnlElements.swift);
// the tests load libnftnl to compare the bytes, with its constants from these headers.
// Headers only: the Firewall opens libnftables with dlopen when it first needs it
// (NftablesLibrary.swift), so nothing links against either library.
// libnftables.h defines _GNU_SOURCE before its includes: the system headers come first, so
// that they are read as the Glibc module reads them (with _GNU_SOURCE, sys/select.h would
// declare an fd_set here that clashes with Glibc's).
#include <stdio.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>
#include <libnftnl/common.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter/nf_tables.h>
#include <nftables/libnftables.h>
