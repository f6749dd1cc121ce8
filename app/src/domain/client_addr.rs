//! Who the client is: the peer address, or behind a trusted proxy the address that
//! proxy names in `X-Forwarded-For`. Login throttling counts per client, so a forged
//! header must never choose the address it is counted under.

use super::bmc_address::Cidr;
use std::net::IpAddr;

/// The proxies whose `X-Forwarded-For` is believed (`RACKSTATE_TRUSTED_PROXIES`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<Cidr>);

impl TrustedProxies {
    /// A comma- or space-separated list of addresses and CIDRs; empty trusts none.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut nets = Vec::new();
        for part in s.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
            nets.push(Cidr::parse(part).ok_or_else(|| format!("{part:?} is not an address or CIDR"))?);
        }
        Ok(Self(nets))
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// The client's address. Without a trusted peer the header is ignored. Behind
    /// trusted proxies the header is read from the right (each proxy appends the
    /// address it saw), skipping trusted hops: the first untrusted address is the
    /// client, since anything left of it was written by the client itself. A
    /// malformed entry stops the walk at the last address known good.
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded_for.iter().rev().flat_map(|h| h.rsplit(',')).map(str::trim);
        for hop in hops {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.trusts(ip) {
                        break;
                    }
                }
                None => break,
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, with or without a port, IPv6 possibly
/// in brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// With no trusted proxies, a client cannot choose its address by header.
    #[test]
    fn header_ignored_from_an_untrusted_peer() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("203.0.113.9"), &["10.0.0.1"]), ip("203.0.113.9"));
        let some = TrustedProxies::parse("10.1.0.0/16").unwrap();
        assert_eq!(some.client(ip("203.0.113.9"), &["10.0.0.1"]), ip("203.0.113.9"));
    }

    /// Behind a trusted proxy, the address it appended is the client; what the client
    /// wrote to the left of it does not count.
    #[test]
    fn rightmost_untrusted_hop_is_the_client() {
        let p = TrustedProxies::parse("10.1.0.5, 10.2.0.0/16").unwrap();
        assert_eq!(p.client(ip("10.1.0.5"), &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(p.client(ip("10.1.0.5"), &["1.2.3.4, 198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(p.client(ip("10.1.0.5"), &["1.2.3.4, 198.51.100.7, 10.2.3.4"]), ip("198.51.100.7"));
        assert_eq!(p.client(ip("10.1.0.5"), &["1.2.3.4", "198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(p.client(ip("10.1.0.5"), &["[2001:db8::1]:443"]), ip("2001:db8::1"));
    }

    /// A trusted proxy that sends no header, or garbage, is the client itself.
    #[test]
    fn missing_or_garbage_header_is_the_proxy() {
        let p = TrustedProxies::parse("10.1.0.5").unwrap();
        assert_eq!(p.client(ip("10.1.0.5"), &[]), ip("10.1.0.5"));
        assert_eq!(p.client(ip("10.1.0.5"), &["not-an-ip"]), ip("10.1.0.5"));
        assert_eq!(p.client(ip("10.1.0.5"), &["1.2.3.4, junk"]), ip("10.1.0.5"));
    }

    /// A bad list entry is named.
    #[test]
    fn bad_entry_named() {
        assert!(TrustedProxies::parse("10.0.0.0/8, proxy.local").unwrap_err().contains("proxy.local"));
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
    }
}
