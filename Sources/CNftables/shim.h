// libnftables: the nft command interpreter as a library. The Firewall module hands it one
// JSON batch per operation, which it applies as a single netlink transaction.
#include <nftables/libnftables.h>
