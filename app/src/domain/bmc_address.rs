//! Where Rackstate may send BMC credentials: the syntax of a BMC address (a host,
//! host:port, or an http(s) base URL with a plain path) and the networks a BMC may be
//! in (`RACKSTATE_BMC_NETWORKS`). Both are checked when an address is entered and
//! again when a connection is made (a name may resolve elsewhere by then).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// A text shown to a tenant, without the BMC's address (as entered, or its host):
/// tenants see what failed, not where the management network is.
pub fn redact(text: &str, address: &str) -> String {
    let mut out = text.to_string();
    let address = address.trim().trim_end_matches('/');
    if !address.is_empty() {
        out = out.replace(address, "the BMC");
    }
    if let Ok(url) = parse(address)
        && !url.host.is_empty()
    {
        out = out.replace(&url.host, "the BMC");
    }
    out
}

/// The longest BMC address accepted.
pub const MAX_ADDRESS: usize = 255;

/// A BMC address taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcUrl {
    pub https: bool,
    /// The host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    /// The path, "" or starting with '/'.
    pub path: String,
}

impl BmcUrl {
    /// The IP when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

const HINT: &str = "must be a host name or IP address (with optional port), e.g. 10.0.12.7 or bmc-r12:8443, \
                    or an http(s):// URL with a plain path";

/// Parses a BMC address; the error says what is wrong, in words for a form.
pub fn parse(address: &str) -> Result<BmcUrl, String> {
    let a = address.trim();
    if a.is_empty() || a.len() > MAX_ADDRESS {
        return Err(HINT.into());
    }
    if a.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '@' | '\\' | '%')) {
        return Err(format!("{HINT}; no spaces, '?', '#', '@', '\\\\' or percent-encoding"));
    }
    let (https, rest, scheme_given) = match (a.strip_prefix("https://"), a.strip_prefix("http://")) {
        (Some(r), _) => (true, r, true),
        (_, Some(r)) => (false, r, true),
        _ => (true, a, false),
    };
    let (authority, path) = match rest.find('/') {
        Some(at) if scheme_given => (&rest[..at], &rest[at..]),
        Some(_) => return Err(format!("{HINT}; a path needs http:// or https:// in front")),
        None => (rest, ""),
    };
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Err("the path may not contain '.' or '..' segments".into());
    }
    let (host, port) = split_host_port(authority).ok_or_else(|| HINT.to_string())?;
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        && !host.starts_with('-')
        && !host.starts_with('.');
    if host.parse::<IpAddr>().is_err() && !valid_name {
        return Err(HINT.into());
    }
    let port = port.unwrap_or(if https { 443 } else { 80 });
    Ok(BmcUrl { https, host: host.to_string(), port, path: path.trim_end_matches('/').to_string() })
}

/// "host", "host:port", "[v6]", "[v6]:port".
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?.parse().ok().filter(|p| *p > 0)?))),
        };
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Some((h, Some(p.parse().ok().filter(|p: &u16| *p > 0)?))),
        Some(_) => None, // a bare IPv6 literal must be bracketed
        None => Some((authority, None)),
    }
}

/// A network in CIDR form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub net: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { net: ip, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) };
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - self.prefix) };
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address it maps.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The networks BMC addresses may resolve to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BmcNetworks {
    /// `any` was given (or nothing): any address but the forbidden kinds.
    pub any: bool,
    /// Networks listed; with `any`, these add to it (e.g. loopback for a lab).
    pub listed: Vec<Cidr>,
    /// Rackstate's own listeners: never a BMC.
    pub own: Vec<SocketAddr>,
}

impl BmcNetworks {
    /// The default: any address but link-local, unspecified, multicast and loopback.
    pub fn any() -> Self {
        Self { any: true, listed: Vec::new(), own: Vec::new() }
    }

    /// `RACKSTATE_BMC_NETWORKS`: comma-separated CIDRs, and `any` for the default.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut out = Self::default();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "any" {
                out.any = true;
            } else {
                out.listed.push(Cidr::parse(word).ok_or_else(|| format!("{word:?} is not a CIDR like 10.20.0.0/16"))?);
            }
        }
        if !out.any && out.listed.is_empty() {
            return Err("no networks given (use `any`, CIDRs, or both)".into());
        }
        Ok(out)
    }

    /// Adds a network (the demo lab adds loopback).
    pub fn with(mut self, cidr: &str) -> Self {
        self.listed.extend(Cidr::parse(cidr));
        self
    }

    /// Whether credentials may go to `addr`; Err says why not.
    pub fn allows(&self, addr: SocketAddr) -> Result<(), String> {
        let ip = canonical(addr.ip());
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(format!("{ip} is not a host address"));
        }
        // A listener on 0.0.0.0 is also reached at this machine's other addresses,
        // which are not known here; loopback and the listener's own address are.
        let own = self.own.iter().any(|o| o.port() == addr.port() && (canonical(o.ip()) == ip || ip.is_loopback()));
        if own {
            return Err(format!("{addr} is Rackstate itself"));
        }
        if self.listed.iter().any(|c| c.contains(ip)) {
            return Ok(());
        }
        if !self.any {
            return Err(format!("{ip} is outside RACKSTATE_BMC_NETWORKS"));
        }
        let link_local = match ip {
            IpAddr::V4(v4) => v4.is_link_local(),
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
        };
        if link_local {
            return Err(format!(
                "{ip} is link-local (where cloud metadata services answer); list it in RACKSTATE_BMC_NETWORKS if a BMC is really there"
            ));
        }
        if ip.is_loopback() {
            return Err(format!("{ip} is loopback; list 127.0.0.0/8 in RACKSTATE_BMC_NETWORKS to allow it"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Hosts, ports, URLs with plain paths; traversal, encodings and junk are refused.
    #[test]
    fn addresses() {
        let u = parse("10.0.12.7").unwrap();
        assert_eq!((u.https, u.host.as_str(), u.port, u.path.as_str()), (true, "10.0.12.7", 443, ""));
        assert_eq!(parse("bmc-r12:8443").unwrap().port, 8443);
        let u = parse("http://127.0.0.1:8000/redfish/v1/Systems/abc/").unwrap();
        assert_eq!((u.https, u.port, u.path.as_str()), (false, 8000, "/redfish/v1/Systems/abc"));
        assert_eq!(parse("https://[fe80::1]:8443").unwrap().host, "fe80::1");
        for bad in [
            "",
            "a b",
            "http://h/redfish/v1/Systems/../../admin",
            "http://h/redfish/./v1",
            "http://h/redfish/%2e%2e/x",
            "http://user@h",
            "h/path",
            "http://h:0",
            "http://h:99999",
            "fe80::1",
            "http://h\\x",
            "-h",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    /// The default refuses metadata, link-local, unspecified, multicast, loopback and
    /// Rackstate's own listener; listing a network allows it.
    #[test]
    fn networks() {
        let mut n = BmcNetworks::any();
        n.own.push(sa("0.0.0.0:3000"));
        assert!(n.allows(sa("10.1.2.3:443")).is_ok());
        assert!(n.allows(sa("[2001:db8::1]:443")).is_ok());
        for bad in [
            "169.254.169.254:80",
            "[fe80::1]:443",
            "0.0.0.0:443",
            "224.0.0.1:443",
            "127.0.0.1:8000",
            "127.0.0.1:3000",
            "[::ffff:169.254.169.254]:80",
        ] {
            assert!(n.allows(sa(bad)).is_err(), "{bad} allowed");
        }
        let lab = n.clone().with("127.0.0.0/8");
        assert!(lab.allows(sa("127.0.0.1:8000")).is_ok());
        assert!(lab.allows(sa("127.0.0.1:3000")).is_err(), "never Rackstate itself");
        let only = BmcNetworks::parse("10.20.0.0/16").unwrap();
        assert!(only.allows(sa("10.20.3.4:443")).is_ok());
        assert!(only.allows(sa("10.21.3.4:443")).is_err());
        assert!(BmcNetworks::parse("10.0.0.0/33").is_err());
        assert!(BmcNetworks::parse("").is_err());
        assert_eq!(BmcNetworks::parse("any, 127.0.0.0/8").unwrap().listed.len(), 1);
    }
}
