/* Structures shared between steer.bpf.c and its Rust loader (xdp-prog/src/maps.rs mirrors
 * them with compile-time size asserts). Addresses and ports are in network byte order, as
 * they sit in the packet, so the program compares without swapping. */
#ifndef FASTPATH_STEER_H
#define FASTPATH_STEER_H

/* Values of the `addrs` map: how the engine holds an IPv4 address. */
#define FP_ADDR_OWNED 1  /* the kernel does not have it: ARP and all IP traffic go to the engine */
#define FP_ADDR_SHARED 2 /* the kernel has it too: only the engine's TCP ports (and range) */

/* Key of the `addrs6` map: an IPv6 address, network order (value as `addrs`). */
struct fp_addr6 {
	__u8 addr[16];
};

/* Key of the `ports6` map. addr :: means "any of the engine's addresses". */
struct fp_port6_key {
	__u8 addr[16]; /* network order */
	__u16 port;    /* network order */
	__u16 pad;     /* must be zero */
};

/* Extension headers the program walks before giving up (passing the frame to the kernel). */
#define FP_IP6_MAX_EXT 6

/* Key of the `ports` map. addr 0 means "any of the engine's addresses". */
struct fp_port_key {
	__u32 addr; /* network order */
	__u16 port; /* network order */
	__u16 pad;  /* must be zero */
};

/* The single entry of the `config` array. */
struct fp_config {
	__u16 local_port_lo;     /* host order, inclusive: ports of connections the engine opens */
	__u16 local_port_hi;     /* host order, inclusive; lo > hi disables the range */
	__u32 sockets_per_queue; /* XSKMAP slots per RX queue; 0 is treated as 1 */
};

/* Indexes of the per-CPU `counters` array. Mirrored by `Counter` in counters.rs. */
enum fp_counter {
	FP_C_PASS = 0,         /* handed to the kernel: not the engine's */
	FP_C_REDIRECT,         /* delivered to an AF_XDP socket */
	FP_C_NO_SOCKET,        /* the engine's, but its XSKMAP slot is empty: passed to the kernel */
	FP_C_RULE_ARP,         /* matched: ARP for an owned address */
	FP_C_RULE_ICMP,        /* matched: ICMP to an owned address */
	FP_C_RULE_TCP_OWNED,   /* matched: TCP to an owned address, any port */
	FP_C_RULE_TCP_PORT,    /* matched: TCP to one of the engine's (address, port) pairs */
	FP_C_RULE_TCP_RANGE,   /* matched: TCP to the engine's local port range */
	FP_C_RULE_FRAGMENT,    /* matched: IPv4 fragment to an owned address (the engine drops it) */
	FP_C_BAD_ETH,          /* malformed: shorter than an Ethernet header */
	FP_C_BAD_VLAN,         /* malformed: truncated 802.1Q tag */
	FP_C_BAD_ARP,          /* malformed: truncated ARP */
	FP_C_BAD_IP,           /* malformed: truncated IPv4 header */
	FP_C_BAD_IHL,          /* malformed: IPv4 version != 4 or IHL < 5 */
	FP_C_BAD_L4,           /* malformed: truncated ICMP or TCP header */
	FP_C_BAD_TCP_DOFF,     /* malformed: TCP data offset < 5 or past the frame */
	FP_C_RULE_OWNED_OTHER, /* matched: UDP or another protocol to an owned address */
	FP_C_RULE_NDP,         /* matched: neighbour solicitation/advertisement for an owned IPv6 address */
	FP_C_RULE_ICMP6,       /* matched: ICMPv6 (not NDP, not router traffic) to an owned IPv6 address */
	FP_C_BAD_IP6,          /* malformed: truncated IPv6 header or version != 6 */
	FP_C_BAD_IP6_EXT,      /* malformed: truncated IPv6 extension header */
	FP_C_IP6_EXT_LIMIT,    /* passed: more than FP_IP6_MAX_EXT extension headers */
	FP_C_IP6_EXT_OTHER,    /* passed: a next header the program does not walk (ESP, AH, ...) */
	FP_C_MAX,
};

#endif
