// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* fastpath's XDP steering program.
 *
 * Hands the engine only its own traffic and passes everything else to the kernel, so the
 * host's own traffic on the same NIC (SSH, DNS, other ports) is untouched:
 *
 *   ARP whose target is an OWNED address                    -> engine
 *   IPv4 to an OWNED address: every protocol, fragments     -> engine
 *     (ICMP and TCP it serves; UDP and the rest it answers with ICMP unreachable)
 *   TCP to a SHARED address on an engine port               -> engine
 *   TCP to any engine address on the local port range       -> engine
 *   IPv6, after a bounded walk over hop-by-hop, routing, fragment and destination
 *   options headers, by the same rules, and:
 *     neighbour solicitation whose target is OWNED (to the solicited-node multicast
 *     group), advertisement to an OWNED address or about one   -> engine
 *     router solicitation/advertisement, redirect, link-local and other multicast
 *     destinations, unknown next headers (ESP, AH, ...)        -> kernel
 *   everything else (other addresses, ...)                  -> kernel (XDP_PASS)
 *
 * Malformed frames are counted by reason and passed: the kernel is the authority on what
 * to do with bytes that are not ours to understand.
 *
 * The engine's socket for a frame sits at XSKMAP slot
 *   rx_queue_index * sockets_per_queue + flow_hash % sockets_per_queue
 * so that one flow always reaches one worker. An empty slot makes bpf_redirect_map fall
 * back to XDP_PASS (counted as no_socket).
 *
 * Addresses, ports and the range live in maps filled by the loader: nothing is compiled in.
 * Every header is bounds-checked before it is read (cursor style).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "steer.h"

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)
#define ETH_P_IP_BE bpf_htons(0x0800)
#define ETH_P_ARP_BE bpf_htons(0x0806)
#define ETH_P_IPV6_BE bpf_htons(0x86DD)

/* IPv6 next-header values (RFC 8200 4, RFC 4443, RFC 4861). */
#define NH_HOPOPTS 0
#define NH_ROUTING 43
#define NH_FRAGMENT 44
#define NH_ICMPV6 58
#define NH_NONE 59
#define NH_DSTOPTS 60
#define ICMP6_ROUTER_SOLICIT 133
#define ICMP6_ROUTER_ADVERT 134
#define ICMP6_NEIGH_SOLICIT 135
#define ICMP6_NEIGH_ADVERT 136
#define ICMP6_REDIRECT 137

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);  /* IPv4 address, network order */
	__type(value, __u8); /* FP_ADDR_OWNED or FP_ADDR_SHARED */
} addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct fp_port_key);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct fp_addr6);
	__type(value, __u8); /* FP_ADDR_OWNED or FP_ADDR_SHARED */
} addrs6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct fp_port6_key);
	__type(value, __u8);
} ports6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_C_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Ethernet/IPv4 ARP body (RFC 826), after the 8-byte fixed part. */
struct arp_eth_ipv4 {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 op;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

struct vlan_tag {
	__be16 tci;
	__be16 inner_proto;
};

static __always_inline void count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &idx);
	if (v)
		*v += 1;
}

static __always_inline int pass(void)
{
	count(FP_C_PASS);
	return XDP_PASS;
}

static __always_inline int malformed(__u32 reason)
{
	count(reason);
	return pass();
}

/* A cheap integer mix over the flow's addresses and ports (not symmetric: each direction of
 * a flow arrives on the engine's side with the same tuple). */
static __always_inline __u32 flow_hash(__u32 saddr, __u32 daddr, __u32 ports)
{
	__u32 h = saddr ^ (daddr * 0x9E3779B1u) ^ (ports * 0x85EBCA6Bu);
	h ^= h >> 16;
	h *= 0x7FEB352Du;
	h ^= h >> 15;
	return h;
}

static __always_inline int to_engine(struct xdp_md *ctx, __u32 rule, __u32 hash)
{
	__u32 zero = 0, per_queue = 1, slot;
	struct fp_config *cfg = bpf_map_lookup_elem(&config, &zero);

	count(rule);
	if (cfg && cfg->sockets_per_queue > 1)
		per_queue = cfg->sockets_per_queue;
	slot = ctx->rx_queue_index * per_queue + hash % per_queue;
	if (bpf_redirect_map(&xsks, slot, XDP_PASS) == XDP_REDIRECT) {
		count(FP_C_REDIRECT);
		return XDP_REDIRECT;
	}
	count(FP_C_NO_SOCKET);
	return pass();
}

static __always_inline __u8 addr_mode(__u32 addr)
{
	__u8 *mode = bpf_map_lookup_elem(&addrs, &addr);
	return mode ? *mode : 0;
}

static __always_inline int in_local_range(__u16 port_be)
{
	__u32 zero = 0;
	struct fp_config *cfg = bpf_map_lookup_elem(&config, &zero);
	__u16 port = bpf_ntohs(port_be);

	return cfg && cfg->local_port_lo <= cfg->local_port_hi && port >= cfg->local_port_lo &&
	       port <= cfg->local_port_hi;
}

static __always_inline int is_engine_port(__u32 addr, __u16 port_be)
{
	struct fp_port_key key = { .addr = addr, .port = port_be, .pad = 0 };

	if (bpf_map_lookup_elem(&ports, &key))
		return 1;
	key.addr = 0;
	return bpf_map_lookup_elem(&ports, &key) != 0;
}

static __always_inline int handle_arp(struct xdp_md *ctx, void *pos, void *end)
{
	struct arp_eth_ipv4 *arp = pos;
	__u32 tpa, spa;

	if ((void *)(arp + 1) > end)
		return malformed(FP_C_BAD_ARP);
	if (arp->htype != bpf_htons(1) || arp->ptype != ETH_P_IP_BE || arp->hlen != 6 ||
	    arp->plen != 4)
		return pass();
	__builtin_memcpy(&tpa, arp->tpa, 4);
	__builtin_memcpy(&spa, arp->spa, 4);
	/* Requests for and replies to an owned address; a shared address's ARP is the kernel's. */
	if (addr_mode(tpa) != FP_ADDR_OWNED)
		return pass();
	return to_engine(ctx, FP_C_RULE_ARP, flow_hash(spa, tpa, 0));
}

static __always_inline int handle_ipv4(struct xdp_md *ctx, void *pos, void *end)
{
	struct iphdr *ip = pos;
	struct tcphdr *tcp;
	__u32 ihl_bytes, doff_bytes;
	__u8 mode;

	if ((void *)(ip + 1) > end)
		return malformed(FP_C_BAD_IP);
	if (ip->version != 4 || ip->ihl < 5)
		return malformed(FP_C_BAD_IHL);
	ihl_bytes = ip->ihl * 4;
	if (pos + ihl_bytes > end)
		return malformed(FP_C_BAD_IP);

	mode = addr_mode(ip->daddr);
	if (!mode)
		return pass();

	/* Fragments carry no (or a partial) L4 header. For an owned address the engine counts
	 * and drops them; for a shared address the kernel may reassemble what is its own. */
	if (ip->frag_off & bpf_htons(0x3FFF)) {
		if (mode == FP_ADDR_OWNED)
			return to_engine(ctx, FP_C_RULE_FRAGMENT, flow_hash(ip->saddr, ip->daddr, 0));
		return pass();
	}

	pos += ihl_bytes;
	if (ip->protocol == IPPROTO_ICMP) {
		if (pos + 8 > end)
			return malformed(FP_C_BAD_L4);
		if (mode != FP_ADDR_OWNED)
			return pass();
		return to_engine(ctx, FP_C_RULE_ICMP, flow_hash(ip->saddr, ip->daddr, 0));
	}
	if (ip->protocol != IPPROTO_TCP) {
		/* An owned address has no kernel behind it: its UDP and other protocols go to the
		 * engine, which answers them with ICMP unreachable as a host does. */
		if (mode == FP_ADDR_OWNED)
			return to_engine(ctx, FP_C_RULE_OWNED_OTHER, flow_hash(ip->saddr, ip->daddr, 0));
		return pass();
	}

	tcp = pos;
	if ((void *)(tcp + 1) > end)
		return malformed(FP_C_BAD_L4);
	doff_bytes = tcp->doff * 4;
	if (tcp->doff < 5 || pos + doff_bytes > end)
		return malformed(FP_C_BAD_TCP_DOFF);

	__u32 hash = flow_hash(ip->saddr, ip->daddr, ((__u32)tcp->source << 16) | tcp->dest);
	if (is_engine_port(ip->daddr, tcp->dest))
		return to_engine(ctx, FP_C_RULE_TCP_PORT, hash);
	if (in_local_range(tcp->dest))
		return to_engine(ctx, FP_C_RULE_TCP_RANGE, hash);
	/* An owned address is the engine's outright: it answers unserved ports with RST. */
	if (mode == FP_ADDR_OWNED)
		return to_engine(ctx, FP_C_RULE_TCP_OWNED, hash);
	return pass();
}

static __always_inline __u8 addr6_mode(const __u8 *addr)
{
	struct fp_addr6 key;
	__u8 *mode;

	__builtin_memcpy(key.addr, addr, 16);
	mode = bpf_map_lookup_elem(&addrs6, &key);
	return mode ? *mode : 0;
}

static __always_inline int is_engine_port6(const __u8 *addr, __u16 port_be)
{
	struct fp_port6_key key = { .port = port_be, .pad = 0 };

	__builtin_memcpy(key.addr, addr, 16);
	if (bpf_map_lookup_elem(&ports6, &key))
		return 1;
	__builtin_memset(key.addr, 0, 16);
	return bpf_map_lookup_elem(&ports6, &key) != 0;
}

/* The four 32-bit words of an address folded into one, for the flow hash. */
static __always_inline __u32 fold6(const struct in6_addr *a)
{
	return a->in6_u.u6_addr32[0] ^ a->in6_u.u6_addr32[1] ^ a->in6_u.u6_addr32[2] ^
	       a->in6_u.u6_addr32[3];
}

static __always_inline int handle_ipv6(struct xdp_md *ctx, void *pos, void *end)
{
	struct ipv6hdr *ip6 = pos;
	__u8 nexthdr, mode;
	__u32 i, hash;

	if ((void *)(ip6 + 1) > end || ip6->version != 6)
		return malformed(FP_C_BAD_IP6);
	pos = ip6 + 1;
	nexthdr = ip6->nexthdr;
	mode = addr6_mode(ip6->daddr.in6_u.u6_addr8);
	hash = flow_hash(fold6(&ip6->saddr), fold6(&ip6->daddr), 0);

	/* RFC 8200 4.1: hop-by-hop first, then any order; a bounded walk. */
	for (i = 0; i < FP_IP6_MAX_EXT; i++) {
		__u8 *ext = pos;

		if (nexthdr == NH_HOPOPTS || nexthdr == NH_ROUTING || nexthdr == NH_DSTOPTS) {
			if ((void *)(ext + 2) > end)
				return malformed(FP_C_BAD_IP6_EXT);
			nexthdr = ext[0];
			pos += ((__u32)ext[1] + 1) * 8;
			if (pos > end)
				return malformed(FP_C_BAD_IP6_EXT);
			continue;
		}
		if (nexthdr == NH_FRAGMENT) {
			if ((void *)(ext + 8) > end)
				return malformed(FP_C_BAD_IP6_EXT);
			/* Offset or more-fragments set: a piece of a datagram. As for IPv4, an
			 * owned address's go to the engine (which counts and drops them), a shared
			 * address's to the kernel, which may reassemble what is its own. An atomic
			 * fragment (RFC 6946) is walked through. */
			if ((ext[2] << 8 | ext[3]) & 0xFFF9) {
				if (mode == FP_ADDR_OWNED)
					return to_engine(ctx, FP_C_RULE_FRAGMENT, hash);
				return pass();
			}
			nexthdr = ext[0];
			pos += 8;
			continue;
		}
		break;
	}
	if (nexthdr == NH_HOPOPTS || nexthdr == NH_ROUTING || nexthdr == NH_DSTOPTS ||
	    nexthdr == NH_FRAGMENT) {
		count(FP_C_IP6_EXT_LIMIT);
		return pass();
	}

	if (nexthdr == NH_ICMPV6) {
		__u8 *icmp = pos;

		if ((void *)(icmp + 4) > end)
			return malformed(FP_C_BAD_L4);
		/* Router traffic is the kernel's (RFC 4861 6, 8). */
		if (icmp[0] == ICMP6_ROUTER_SOLICIT || icmp[0] == ICMP6_ROUTER_ADVERT ||
		    icmp[0] == ICMP6_REDIRECT)
			return pass();
		if (icmp[0] == ICMP6_NEIGH_SOLICIT) {
			/* Sent to the target's solicited-node group, so the target decides. */
			if ((void *)(icmp + 24) > end)
				return malformed(FP_C_BAD_L4);
			if (addr6_mode(icmp + 8) != FP_ADDR_OWNED)
				return pass();
			return to_engine(ctx, FP_C_RULE_NDP, hash);
		}
		if (icmp[0] == ICMP6_NEIGH_ADVERT) {
			/* One about an owned address is the engine's, also when it goes to all
			 * nodes: that is how another node defends the address against the
			 * engine's duplicate address detection (RFC 4862 5.4.4). */
			if ((void *)(icmp + 24) > end)
				return malformed(FP_C_BAD_L4);
			if (mode == FP_ADDR_OWNED || addr6_mode(icmp + 8) == FP_ADDR_OWNED)
				return to_engine(ctx, FP_C_RULE_NDP, hash);
			return pass();
		}
		if (mode != FP_ADDR_OWNED)
			return pass();
		return to_engine(ctx, FP_C_RULE_ICMP6, hash);
	}
	if (!mode)
		return pass();
	if (nexthdr != IPPROTO_TCP) {
		if (nexthdr == NH_NONE)
			return pass();
		/* ESP, AH, Mobility, ... are not walked: the kernel's, counted. */
		if (nexthdr == 50 || nexthdr == 51 || nexthdr == 135 || nexthdr == 139 ||
		    nexthdr == 140 || nexthdr == 253 || nexthdr == 254) {
			count(FP_C_IP6_EXT_OTHER);
			return pass();
		}
		if (mode == FP_ADDR_OWNED)
			return to_engine(ctx, FP_C_RULE_OWNED_OTHER, hash);
		return pass();
	}

	struct tcphdr *tcp = pos;
	__u32 doff_bytes;

	if ((void *)(tcp + 1) > end)
		return malformed(FP_C_BAD_L4);
	doff_bytes = tcp->doff * 4;
	if (tcp->doff < 5 || pos + doff_bytes > end)
		return malformed(FP_C_BAD_TCP_DOFF);
	hash = flow_hash(fold6(&ip6->saddr), fold6(&ip6->daddr),
			 ((__u32)tcp->source << 16) | tcp->dest);
	if (is_engine_port6(ip6->daddr.in6_u.u6_addr8, tcp->dest))
		return to_engine(ctx, FP_C_RULE_TCP_PORT, hash);
	if (in_local_range(tcp->dest))
		return to_engine(ctx, FP_C_RULE_TCP_RANGE, hash);
	if (mode == FP_ADDR_OWNED)
		return to_engine(ctx, FP_C_RULE_TCP_OWNED, hash);
	return pass();
}

SEC("xdp")
int fastpath_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *pos = data;
	__be16 proto;

	if ((void *)(eth + 1) > end)
		return malformed(FP_C_BAD_ETH);
	proto = eth->h_proto;
	pos = eth + 1;

	/* One 802.1Q (or 802.1ad) tag; a second tag is not ours to parse and passes below. */
	if (proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE) {
		struct vlan_tag *tag = pos;

		if ((void *)(tag + 1) > end)
			return malformed(FP_C_BAD_VLAN);
		proto = tag->inner_proto;
		pos = tag + 1;
	}

	if (proto == ETH_P_ARP_BE)
		return handle_arp(ctx, pos, end);
	if (proto == ETH_P_IP_BE)
		return handle_ipv4(ctx, pos, end);
	if (proto == ETH_P_IPV6_BE)
		return handle_ipv6(ctx, pos, end);
	return pass();
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
