//! `/etc/ha.d/haresources`, read the way heartbeat's `ResourceManager` reads it (§2.2), since
//! that is the parser that decides what actually runs:
//!
//! 1. everything from a `#` to the end of the line is deleted, wherever the `#` is;
//! 2. a line ending in `\` (after step 1) is joined to the next one, the `\` removed, with no
//!    blank inserted (so a word may continue on the next line);
//! 3. runs of blanks collapse, empty lines vanish;
//! 4. the first field, the preferred node, is lowercased.
//!
//! Each logical line is a resource group: `<node> <res1> <res2> …`, keyed by `<res1>`, which
//! must be unique. A resource is `name`, `name::arg1::arg2…`, or an IP shorthand (a word
//! matching the shell glob `[0-9]*.[0-9]*.[0-9]*.[0-9]*`), which means `IPaddr::<word>`.
//!
//! Positions point at the physical line and column where a word starts, even in a joined line.
//! A trailing CR is dropped before looking for the `\`, so CRLF files behave like LF files.

use core::fmt;

use heapless::{String, Vec};

use super::{
    bounded, lowercase, parse_decimal, parse_ipv4, ConfigError, FileKind, Invalid, NodeName, Pos,
    Reporter, Shown, MAX_LINE_LEN, NODE_NAME_LEN,
};

/// Resource groups (lines). A two-node v1 cluster rarely has more than a handful.
pub const MAX_GROUPS: usize = 16;
/// Resources in one group.
pub const MAX_RESOURCES_PER_GROUP: usize = 16;
/// A group's resources as written, blank-separated (without the node name).
pub const GROUP_TEXT_LEN: usize = 512;
/// `iface` or `iface:label` in an IP argument.
pub const IFACE_LABEL_LEN: usize = 31;
/// Linux interface names (`IFNAMSIZ` minus the NUL).
const IFACE_LEN: usize = 15;

/// Blanks that separate fields; sed's `[[:blank:]]` plus the CR and FF a DOS editor leaves.
const BLANKS: [char; 4] = [' ', '\t', '\r', '\x0c'];

/// The parsed file: resource groups in file order (the order "all groups" are processed in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaResources {
    groups: Vec<ResourceGroup, MAX_GROUPS>,
}

impl HaResources {
    /// Parse `haresources`. Every problem goes to `diag` as it is found; the result is `Err`
    /// if any was an error. Node names are checked separately with [`HaResources::check_nodes`]
    /// because they need `ha.cf`.
    pub fn parse(text: &str, diag: &mut impl FnMut(ConfigError)) -> Result<HaResources, Invalid> {
        let mut r = Reporter::new(FileKind::HaResources, diag);
        let mut p = Parser::default();
        for (line_no, raw) in super::physical_lines(text) {
            if raw.len() > MAX_LINE_LEN {
                r.error(
                    Pos::new(line_no, 1),
                    format_args!(
                        "line is {} bytes long; heartbeat reads at most {MAX_LINE_LEN} \
                        bytes per line",
                        raw.len()
                    ),
                );
                p.end_line(&mut r);
                continue;
            }
            let content = raw.find('#').and_then(|i| raw.get(..i)).unwrap_or(raw);
            let content = content.strip_suffix('\r').unwrap_or(content);
            let (body, continued) = match content.strip_suffix('\\') {
                Some(body) => (body, true),
                None => (content, false),
            };
            for (col, c) in body.chars().enumerate() {
                if BLANKS.contains(&c) {
                    p.end_word(&mut r);
                } else {
                    let column = u32::try_from(col).map_or(u32::MAX, |c| c.saturating_add(1));
                    p.word_at.get_or_insert(Pos::new(line_no, column));
                    if p.word.push(c).is_err() {
                        p.word_too_long = true;
                    }
                }
            }
            if !continued {
                p.end_line(&mut r);
            }
        }
        p.end_line(&mut r);
        r.verdict(p.res)
    }

    pub fn groups(&self) -> &[ResourceGroup] {
        &self.groups
    }

    /// The group whose key (first resource) is `key`.
    pub fn group(&self, key: &str) -> Option<&ResourceGroup> {
        self.groups.iter().find(|g| g.key() == key)
    }

    /// The groups whose preferred node is `node` (heartbeat's "local" resources on `node`).
    pub fn groups_of<'s>(&'s self, node: &'s str) -> impl Iterator<Item = &'s ResourceGroup> {
        self.groups
            .iter()
            .filter(move |g| g.node.eq_ignore_ascii_case(node))
    }

    /// heartbeat refuses to start when a group's node is not declared in `ha.cf`
    /// [config.c: parse_ha_resources]. Pass the `ha.cf` node names (`HaCf::node_names`).
    pub fn check_nodes<'n>(
        &self,
        nodes: impl Iterator<Item = &'n str> + Clone,
        diag: &mut impl FnMut(ConfigError),
    ) -> Result<(), Invalid> {
        let mut r = Reporter::new(FileKind::HaResources, diag);
        for g in &self.groups {
            if !nodes.clone().any(|n| n.eq_ignore_ascii_case(&g.node)) {
                r.error(
                    g.node_at,
                    format_args!(
                        "Bad nodename in {} [{}] (the first word of a line must be a node \
                            declared in ha.cf)",
                        FileKind::HaResources.default_path(),
                        Shown(&g.node)
                    ),
                );
            }
        }
        r.verdict(())
    }
}

/// One logical line: a preferred node and the resources started left to right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceGroup {
    node: NodeName,
    node_at: Pos,
    /// The resources as written, joined by single blanks; `slots` index into it.
    text: String<GROUP_TEXT_LEN>,
    slots: Vec<Slot, MAX_RESOURCES_PER_GROUP>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    start: u16,
    end: u16,
    at: Pos,
}

impl ResourceGroup {
    /// The preferred node, lowercased.
    pub fn node(&self) -> &str {
        &self.node
    }
    pub fn node_at(&self) -> Pos {
        self.node_at
    }
    /// The group's key: its first resource as written.
    pub fn key(&self) -> &str {
        self.resources().next().map_or("", |r| r.spec())
    }
    /// The resources in start order; `.rev()` gives the stop order.
    pub fn resources(
        &self,
    ) -> impl DoubleEndedIterator<Item = Resource<'_>> + ExactSizeIterator + '_ {
        self.slots.iter().map(|s| Resource {
            spec: self
                .text
                .get(usize::from(s.start)..usize::from(s.end))
                .unwrap_or(""),
            at: s.at,
        })
    }
    pub fn len(&self) -> usize {
        self.slots.len()
    }
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

/// `node res1 res2 …`, the normalised line ResourceManager logs
/// (`Acquiring resource group: …`).
impl fmt::Display for ResourceGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.node, self.text)
    }
}

/// A resource as written in a group, e.g. `httpd`, `Filesystem::/dev/sda1::/data::ext4` or
/// `10.0.0.5/24/eth0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    spec: &'a str,
    at: Pos,
}

impl<'a> Resource<'a> {
    pub fn spec(&self) -> &'a str {
        self.spec
    }
    pub fn at(&self) -> Pos {
        self.at
    }

    /// ResourceManager's `isip`: the glob `[0-9]*.[0-9]*.[0-9]*.[0-9]*`, i.e. a leading digit
    /// and three dots each followed by a digit.
    pub fn is_ip_shorthand(&self) -> bool {
        let b = self.spec.as_bytes();
        if !b.first().is_some_and(u8::is_ascii_digit) {
            return false;
        }
        let mut rest = b.get(1..).unwrap_or(&[]);
        for _ in 0..3 {
            match rest
                .windows(2)
                .position(|w| matches!(w, [b'.', d] if d.is_ascii_digit()))
            {
                Some(p) => rest = rest.get(p + 2..).unwrap_or(&[]),
                None => return false,
            }
        }
        true
    }

    /// The script to run: `IPaddr` for the IP shorthand, else the part before the first `::`.
    pub fn script(&self) -> &'a str {
        if self.is_ip_shorthand() {
            "IPaddr"
        } else {
            self.spec.split("::").next().unwrap_or("")
        }
    }

    /// The script's arguments (passed before the operation: `<script> <args…> start`).
    pub fn args(&self) -> Args<'a> {
        if self.is_ip_shorthand() {
            Args {
                rest: Some(self.spec),
                whole: true,
            }
        } else {
            Args {
                rest: self.spec.split_once("::").map(|(_, a)| a),
                whole: false,
            }
        }
    }

    /// For `IPaddr`/`IPaddr2` resources, their first argument read as an [`IpSpec`].
    pub fn ip_spec(&self) -> Option<Result<IpSpec, IpSpecError>> {
        let agent = IpAgent::from_script(self.script())?;
        let arg = self.args().next().unwrap_or("");
        Some(parse_ip_spec(arg, agent))
    }
}

/// Iterator over a resource's `::`-separated arguments.
#[derive(Clone, Debug)]
pub struct Args<'a> {
    rest: Option<&'a str>,
    whole: bool,
}

impl<'a> Iterator for Args<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        if self.whole {
            self.rest = None;
            return Some(rest);
        }
        match rest.split_once("::") {
            Some((arg, tail)) => {
                self.rest = Some(tail);
                Some(arg)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// Which IP resource agent an argument is for: only `IPaddr2` accepts `iface:label`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpAgent {
    IPaddr,
    IPaddr2,
}

impl IpAgent {
    pub fn from_script(script: &str) -> Option<IpAgent> {
        match script {
            "IPaddr" => Some(IpAgent::IPaddr),
            "IPaddr2" => Some(IpAgent::IPaddr2),
            _ => None,
        }
    }

    pub const fn script(self) -> &'static str {
        match self {
            IpAgent::IPaddr => "IPaddr",
            IpAgent::IPaddr2 => "IPaddr2",
        }
    }
}

/// An IP resource argument `address[/bits[/interface[/broadcast]]]`, where a third field that
/// starts with a digit is the broadcast address. What is left out is chosen by the daemon from
/// the routing table, as findif does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpSpec {
    pub addr: [u8; 4],
    pub bits: Option<u8>,
    /// `eth0`, or for IPaddr2 `eth0:label`.
    pub iface: Option<String<IFACE_LABEL_LEN>>,
    pub broadcast: Option<[u8; 4]>,
}

impl IpSpec {
    /// The interface without any label.
    pub fn interface(&self) -> Option<&str> {
        self.iface
            .as_deref()
            .map(|i| i.split(':').next().unwrap_or(i))
    }

    /// The IPaddr2 label, if one was given.
    pub fn label(&self) -> Option<&str> {
        self.iface
            .as_deref()
            .and_then(|i| i.split_once(':'))
            .map(|(_, l)| l)
    }
}

/// Why an IP resource argument was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpSpecError {
    BadAddress,
    MissingNetmask,
    /// Not a number, e.g. an interface where the netmask bits belong.
    BadNetmask,
    NetmaskOutOfRange,
    EmptyInterface,
    InterfaceTooLong,
    /// `iface:label` given to `IPaddr`.
    LabelNotAllowed,
    BadLabel,
    BadBroadcast,
    TooManyFields,
}

impl fmt::Display for IpSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpSpecError::BadAddress => "invalid IPv4 address",
            IpSpecError::MissingNetmask => "empty netmask bits",
            IpSpecError::BadNetmask => {
                "netmask must be a number of bits (an interface goes after them: \
                    address/bits/interface)"
            }
            IpSpecError::NetmaskOutOfRange => "netmask bits must be 1 to 32",
            IpSpecError::EmptyInterface => "empty interface name",
            IpSpecError::InterfaceTooLong => "interface name longer than 15 bytes",
            IpSpecError::LabelNotAllowed => "interface labels (iface:label) work only with IPaddr2",
            IpSpecError::BadLabel => "interface label must be iface:label, both parts non-empty",
            IpSpecError::BadBroadcast => "invalid IPv4 broadcast address",
            IpSpecError::TooManyFields => {
                "too many fields (use \
                address[/bits[/interface[/broadcast]]])"
            }
        })
    }
}

/// Read an `IPaddr`/`IPaddr2` argument [resources/heartbeat/IPaddr.in; findif.c: GetAddress].
pub fn parse_ip_spec(spec: &str, agent: IpAgent) -> Result<IpSpec, IpSpecError> {
    let mut fields = spec.split('/');
    let addr = parse_ipv4(fields.next().unwrap_or("")).ok_or(IpSpecError::BadAddress)?;
    let mut out = IpSpec {
        addr,
        bits: None,
        iface: None,
        broadcast: None,
    };
    let Some(bits) = fields.next() else {
        return Ok(out);
    };
    if bits.is_empty() {
        return Err(IpSpecError::MissingNetmask);
    }
    let bits = parse_decimal(bits).ok_or(IpSpecError::BadNetmask)?;
    out.bits = Some(
        u8::try_from(bits)
            .ok()
            .filter(|b| (1..=32).contains(b))
            .ok_or(IpSpecError::NetmaskOutOfRange)?,
    );
    let Some(third) = fields.next() else {
        return Ok(out);
    };
    if third.starts_with(|c: char| c.is_ascii_digit()) {
        out.broadcast = Some(parse_ipv4(third).ok_or(IpSpecError::BadBroadcast)?);
    } else {
        let device = match third.split_once(':') {
            None => third,
            Some(_) if agent == IpAgent::IPaddr => return Err(IpSpecError::LabelNotAllowed),
            Some((dev, label)) if dev.is_empty() || label.is_empty() => {
                return Err(IpSpecError::BadLabel)
            }
            Some((dev, _)) => dev,
        };
        if device.is_empty() {
            return Err(IpSpecError::EmptyInterface);
        }
        if device.len() > IFACE_LEN {
            return Err(IpSpecError::InterfaceTooLong);
        }
        out.iface = Some(bounded(third).ok_or(IpSpecError::InterfaceTooLong)?);
        if let Some(fourth) = fields.next() {
            out.broadcast = Some(parse_ipv4(fourth).ok_or(IpSpecError::BadBroadcast)?);
        }
    }
    match fields.next() {
        Some(_) => Err(IpSpecError::TooManyFields),
        None => Ok(out),
    }
}

/// Tokenizer state across physical lines.
#[derive(Default)]
struct Parser {
    res: HaResources,
    group: Option<Building>,
    word: String<GROUP_TEXT_LEN>,
    word_at: Option<Pos>,
    word_too_long: bool,
}

/// The group of the logical line being read.
struct Building {
    group: ResourceGroup,
    /// A table in it filled up (already reported); later resources are not added.
    full: bool,
    /// A word of the line was refused (already reported), so an empty group is no news.
    refused: bool,
}

impl Default for HaResources {
    fn default() -> Self {
        HaResources { groups: Vec::new() }
    }
}

impl Parser {
    fn end_word(&mut self, r: &mut Reporter<'_>) {
        let Some(at) = self.word_at.take() else {
            return;
        };
        let word = core::mem::take(&mut self.word);
        if core::mem::take(&mut self.word_too_long) {
            r.error(
                at,
                format_args!(
                    "[{}] is too long (at most {GROUP_TEXT_LEN} bytes)",
                    Shown(&word)
                ),
            );
            // Keep the line's shape: a refused node word still starts the group.
            let b = self.group.get_or_insert_with(|| Building {
                group: ResourceGroup {
                    node: NodeName::new(),
                    node_at: at,
                    text: String::new(),
                    slots: Vec::new(),
                },
                full: false,
                refused: false,
            });
            b.refused = true;
            return;
        }
        match &mut self.group {
            None => self.start_group(r, &word, at),
            Some(b) => add_resource(r, b, &word, at),
        }
    }

    fn start_group(&mut self, r: &mut Reporter<'_>, word: &str, at: Pos) {
        let node = lowercase::<NODE_NAME_LEN>(word);
        if node.is_none() {
            r.error(
                at,
                format_args!(
                    "node name [{}] is too long (at most {NODE_NAME_LEN} bytes)",
                    Shown(word)
                ),
            );
        }
        let refused = node.is_none();
        let group = ResourceGroup {
            node: node.unwrap_or_default(),
            node_at: at,
            text: String::new(),
            slots: Vec::new(),
        };
        self.group = Some(Building {
            group,
            full: false,
            refused,
        });
    }

    fn end_line(&mut self, r: &mut Reporter<'_>) {
        self.end_word(r);
        let Some(Building { group, refused, .. }) = self.group.take() else {
            return;
        };
        let Some(first) = group.slots.first().copied() else {
            if refused {
                return;
            }
            return r.error(
                group.node_at,
                format_args!(
                    "resource group for node [{}] lists no resources",
                    Shown(&group.node)
                ),
            );
        };
        if let Some(earlier) = self.res.groups.iter().find(|g| g.key() == group.key()) {
            return r.error(
                first.at,
                format_args!(
                    "duplicate resource group key [{}] (already the first resource of the \
                     group on line {}; keys must be unique)",
                    Shown(group.key()),
                    earlier.node_at.line
                ),
            );
        }
        if self.res.groups.push(group).is_err() {
            r.error(
                first.at,
                format_args!("too many resource groups (hb supports at most {MAX_GROUPS})"),
            );
        }
    }
}

fn add_resource(r: &mut Reporter<'_>, b: &mut Building, word: &str, at: Pos) {
    check_resource(r, Resource { spec: word, at });
    if b.full {
        return;
    }
    let g = &mut b.group;
    if g.slots.is_full() {
        b.full = true;
        return r.error(
            at,
            format_args!(
                "too many resources in one group (hb supports at most {MAX_RESOURCES_PER_GROUP})"
            ),
        );
    }
    let sep = if g.text.is_empty() { "" } else { " " };
    let start = g.text.len() + sep.len();
    if g.text.push_str(sep).is_err() || g.text.push_str(word).is_err() {
        b.full = true;
        return r.error(
            at,
            format_args!(
                "resource group too long (hb supports at most \
            {GROUP_TEXT_LEN} bytes of resources per line)"
            ),
        );
    }
    // Both offsets are below GROUP_TEXT_LEN, which fits in u16.
    let (Ok(start), Ok(end)) = (u16::try_from(start), u16::try_from(g.text.len())) else {
        return;
    };
    // The capacity was checked above.
    let _ = g.slots.push(Slot { start, end, at });
}

/// What can be checked about a resource without the file system: a script name, and a
/// well-formed address for the IP agents.
fn check_resource(r: &mut Reporter<'_>, res: Resource<'_>) {
    let script = res.script();
    if script.is_empty() {
        return r.error(
            res.at,
            format_args!(
                "resource [{}] has no script name before '::'",
                Shown(res.spec)
            ),
        );
    }
    let Some(agent) = IpAgent::from_script(script) else {
        return;
    };
    let arg = res.args().next().unwrap_or("");
    if arg.is_empty() {
        return r.error(
            res.at,
            format_args!(
                "{script} needs an address argument: \
                {script}::address[/bits[/interface[/broadcast]]]"
            ),
        );
    }
    if let Err(e) = parse_ip_spec(arg, agent) {
        r.error(
            res.at,
            format_args!("{script} argument [{}]: {e}", Shown(arg)),
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::config::HaCf;
    use proptest::prelude::*;
    use std::format;
    use std::string::{String as StdString, ToString};
    use std::vec::Vec as StdVec;

    fn run(text: &str) -> (Result<HaResources, Invalid>, StdVec<StdString>) {
        crate::config::testing::run(FileKind::HaResources, text, |t, d| {
            HaResources::parse(t, &mut &mut *d)
        })
    }

    fn ok(text: &str) -> HaResources {
        let (res, diags) = run(text);
        assert!(diags.is_empty(), "{diags:#?}");
        res.unwrap()
    }

    fn refused(text: &str) -> StdVec<StdString> {
        crate::config::testing::refused(run(text))
    }

    fn specs(g: &ResourceGroup) -> StdVec<&str> {
        g.resources().map(|r| r.spec()).collect()
    }

    fn args<'a>(r: Resource<'a>) -> StdVec<&'a str> {
        r.args().collect()
    }

    fn iface(name: &str) -> Option<String<IFACE_LABEL_LEN>> {
        bounded(name)
    }

    #[test]
    fn vector_haresources() {
        let res = ok(include_str!(
            "../../../../shared/vectors/heartbeat-3.0.6/haresources"
        ));
        let [g] = res.groups() else { panic!("{res:?}") };
        assert_eq!(g.node(), "node1");
        assert_eq!(g.key(), "IPaddr2::198.51.100.100/24/eth0");
        let r = g.resources().next().unwrap();
        assert_eq!(
            (r.script(), args(r)),
            ("IPaddr2", std::vec!["198.51.100.100/24/eth0"])
        );
        assert_eq!(r.at(), Pos::new(1, 7));
        assert_eq!(
            r.ip_spec(),
            Some(Ok(IpSpec {
                addr: [198, 51, 100, 100],
                bits: Some(24),
                iface: iface("eth0"),
                broadcast: None
            }))
        );
        let cf = HaCf::parse(
            include_str!("../../../../shared/vectors/heartbeat-3.0.6/ha.cf.node1"),
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(
            res.check_nodes(cf.node_names(), &mut |e| panic!("{e}")),
            Ok(())
        );
        assert_eq!(res.groups_of("NODE1").count(), 1);
        assert_eq!(res.groups_of("node2").count(), 0);
    }

    #[test]
    fn ip_shorthand_third_field_with_digit_is_broadcast() {
        let res = ok("linuxha1 192.168.85.3/27/192.168.85.16 httpd smb\n");
        let g = &res.groups()[0];
        assert_eq!(specs(g), ["192.168.85.3/27/192.168.85.16", "httpd", "smb"]);
        let ip = g.resources().next().unwrap();
        assert!(ip.is_ip_shorthand());
        assert_eq!(
            (ip.script(), args(ip)),
            ("IPaddr", std::vec!["192.168.85.3/27/192.168.85.16"])
        );
        assert_eq!(
            ip.ip_spec(),
            Some(Ok(IpSpec {
                addr: [192, 168, 85, 3],
                bits: Some(27),
                iface: None,
                broadcast: Some([192, 168, 85, 16])
            }))
        );
        let httpd = g.resources().nth(1).unwrap();
        assert_eq!(
            (httpd.script(), args(httpd).len(), httpd.ip_spec()),
            ("httpd", 0, None)
        );
        // Stop order is right to left.
        assert_eq!(
            g.resources().rev().map(|r| r.spec()).collect::<StdVec<_>>(),
            ["smb", "httpd", "192.168.85.3/27/192.168.85.16"]
        );
        assert_eq!(
            g.to_string(),
            "linuxha1 192.168.85.3/27/192.168.85.16 httpd smb"
        );
    }

    #[test]
    fn interface_then_broadcast_and_script_arguments() {
        let res = ok("node1 10.0.0.5/24/eth0/10.0.0.255 Filesystem::/dev/sda1::/data::ext4 httpd\nNode2 maid::vacuum kettle\n");
        let g = &res.groups()[0];
        let ip = g.resources().next().unwrap();
        assert_eq!(
            ip.ip_spec(),
            Some(Ok(IpSpec {
                addr: [10, 0, 0, 5],
                bits: Some(24),
                iface: iface("eth0"),
                broadcast: Some([10, 0, 0, 255])
            }))
        );
        let fs = g.resources().nth(1).unwrap();
        assert_eq!(
            (fs.script(), args(fs)),
            ("Filesystem", std::vec!["/dev/sda1", "/data", "ext4"])
        );
        let maid = res.groups()[1].resources().next().unwrap();
        assert_eq!((maid.script(), args(maid)), ("maid", std::vec!["vacuum"]));
        assert_eq!(res.groups()[1].node(), "node2");
        assert_eq!(res.group("maid::vacuum").map(|g| g.len()), Some(2));
        assert!(res.group("kettle").is_none());
    }

    #[test]
    fn normalisation_comments_continuations_and_blanks() {
        let text = "# comment\n\n  node1   IPaddr::10.0.0.1 \\\n\t httpd  # trailing \\\n\nnode2 ht\\\ntpd \\\r\n smb\r\nnode3 a#b\n";
        let res = ok(text);
        let [g1, g2, g3] = res.groups() else {
            panic!("{res:?}")
        };
        assert_eq!(
            (g1.node(), specs(g1)),
            ("node1", std::vec!["IPaddr::10.0.0.1", "httpd"])
        );
        assert_eq!(g1.node_at(), Pos::new(3, 3));
        assert_eq!(g1.resources().nth(1).unwrap().at(), Pos::new(4, 3));
        // A word may continue on the next line; it is located where it starts.
        assert_eq!(specs(g2), ["httpd", "smb"]);
        assert_eq!(g2.resources().next().unwrap().at(), Pos::new(6, 7));
        assert_eq!(g2.resources().nth(1).unwrap().at(), Pos::new(8, 2));
        assert_eq!(specs(g3), ["a"]);
        assert_eq!(g2.to_string(), "node2 httpd smb");
    }

    #[test]
    fn ip_shorthand_is_the_resource_manager_glob() {
        let r = |s| Resource {
            spec: s,
            at: Pos::FILE,
        };
        for yes in ["1.2.3.4", "10.0.0.5/24", "1.2.3.4.5", "1x.2y.3z.4"] {
            assert!(r(yes).is_ip_shorthand(), "{yes}");
        }
        for no in [
            "1.2.3.",
            "a1.2.3.4",
            "1.2.3.x4",
            "IPaddr::1.2.3.4",
            "",
            "1...2",
        ] {
            assert!(!r(no).is_ip_shorthand(), "{no}");
        }
    }

    #[test]
    fn ip_spec_forms() {
        use IpAgent::{IPaddr, IPaddr2};
        assert_eq!(
            parse_ip_spec("10.0.0.1", IPaddr).map(|s| (s.bits, s.iface)),
            Ok((None, None))
        );
        let labelled = parse_ip_spec("10.0.0.1/24/eth0:web", IPaddr2).unwrap();
        assert_eq!(
            (labelled.interface(), labelled.label()),
            (Some("eth0"), Some("web"))
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/eth0:web", IPaddr),
            Err(IpSpecError::LabelNotAllowed)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/eth0:", IPaddr2),
            Err(IpSpecError::BadLabel)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/eth0", IPaddr),
            Err(IpSpecError::BadNetmask)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/", IPaddr),
            Err(IpSpecError::MissingNetmask)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/0", IPaddr),
            Err(IpSpecError::NetmaskOutOfRange)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/", IPaddr),
            Err(IpSpecError::EmptyInterface)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/10.0.0.256", IPaddr),
            Err(IpSpecError::BadBroadcast)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/10.0.0.255/eth0", IPaddr),
            Err(IpSpecError::TooManyFields)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/eth0/10.0.0.255/x", IPaddr),
            Err(IpSpecError::TooManyFields)
        );
        assert_eq!(
            parse_ip_spec("10.0.0.1/24/averyveryverylongname", IPaddr),
            Err(IpSpecError::InterfaceTooLong)
        );
    }

    // --- broken files ----------------------------------------------------------------------

    #[test]
    fn broken_bad_node_name() {
        let res = ok("node1 httpd\nnode3 smb\nnode4 nfs\n");
        let mut diags = StdVec::new();
        let nodes = ["node1", "node2"];
        let verdict = res.check_nodes(nodes.iter().copied(), &mut |e| diags.push(e.to_string()));
        assert_eq!(verdict.map_err(|e| e.errors()), Err(2));
        assert_eq!(
            diags,
            [
                "2:1: Bad nodename in /etc/ha.d/haresources [node3] (the first word of a line must be a node declared in ha.cf)",
                "3:1: Bad nodename in /etc/ha.d/haresources [node4] (the first word of a line must be a node declared in ha.cf)",
            ]
        );
    }

    #[test]
    fn broken_duplicate_group_key() {
        assert_eq!(
            refused("node1 httpd\nnode2 httpd smb\n"),
            ["2:7: duplicate resource group key [httpd] (already the first resource of the group on line 1; keys must be unique)"]
        );
    }

    #[test]
    fn broken_ip_shorthand_address() {
        assert_eq!(
            refused("node1 10.0.0.300/24\n"),
            ["1:7: IPaddr argument [10.0.0.300/24]: invalid IPv4 address"]
        );
    }

    #[test]
    fn broken_netmask_bits() {
        assert_eq!(
            refused("node1 httpd 10.0.0.5/33\n"),
            ["1:13: IPaddr argument [10.0.0.5/33]: netmask bits must be 1 to 32"]
        );
        assert_eq!(
            refused("node1 IPaddr::10.0.0.5/eth0\n"),
            ["1:7: IPaddr argument [10.0.0.5/eth0]: netmask must be a number of bits (an interface goes after them: address/bits/interface)"]
        );
    }

    #[test]
    fn broken_label_with_ipaddr() {
        assert_eq!(
            refused("node1 IPaddr::10.0.0.5/24/eth0:web\n"),
            ["1:7: IPaddr argument [10.0.0.5/24/eth0:web]: interface labels (iface:label) work only with IPaddr2"]
        );
    }

    #[test]
    fn broken_ip_agent_without_address() {
        assert_eq!(
            refused("node1 IPaddr2\n"),
            ["1:7: IPaddr2 needs an address argument: IPaddr2::address[/bits[/interface[/broadcast]]]"]
        );
    }

    #[test]
    fn broken_group_without_resources() {
        assert_eq!(
            refused("node1 httpd\n  node2  # nothing here\n"),
            ["2:3: resource group for node [node2] lists no resources"]
        );
    }

    #[test]
    fn broken_empty_script_name() {
        assert_eq!(
            refused("node1 ::x\n"),
            ["1:7: resource [::x] has no script name before '::'"]
        );
    }

    #[test]
    fn broken_capacities() {
        let groups: StdVec<StdString> = (0..=MAX_GROUPS).map(|i| format!("node1 r{i}\n")).collect();
        assert_eq!(
            refused(&groups.concat()),
            ["17:7: too many resource groups (hb supports at most 16)"]
        );
        let many: StdVec<StdString> = (0..=MAX_RESOURCES_PER_GROUP)
            .map(|i| format!("r{i}"))
            .collect();
        assert_eq!(
            refused(&format!("node1 {}\n", many.join(" "))),
            ["1:61: too many resources in one group (hb supports at most 16)"]
        );
        let long = "x".repeat(GROUP_TEXT_LEN + 1);
        assert_eq!(
            refused(&format!("node1 {long}\n")),
            [format!(
                "1:7: [{}...] is too long (at most 512 bytes)",
                "x".repeat(64)
            )]
        );
        let long_node = "n".repeat(NODE_NAME_LEN + 1);
        assert_eq!(refused(&format!("{long_node} httpd\n")).len(), 1);
    }

    #[test]
    fn odd_files_do_not_panic() {
        for text in [
            "",
            "\\",
            "\\\n\\",
            "#",
            "node1 \\",
            "\u{feff}",
            "\r\r\r",
            "n \u{1F600}::\u{0}",
        ] {
            let _ = run(text);
        }
        let empty = ok("");
        assert!(empty.groups().is_empty());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in any::<StdString>()) {
            let (res, _) = run(&text);
            if let Ok(res) = res {
                for g in res.groups() {
                    for r in g.resources() {
                        let _ = (r.script(), r.args().count(), r.ip_spec());
                    }
                }
            }
        }

        #[test]
        fn never_panics_on_resource_like_lines(
            lines in prop::collection::vec(
                prop::collection::vec("[a-zA-Z0-9]{0,6}|[0-9./:]{0,20}|IPaddr2?::[0-9./a-z:]{0,24}|[#\\\\ \t\r]", 0..8),
                0..20,
            )
        ) {
            let text: StdVec<StdString> = lines.iter().map(|ws| ws.join(" ")).collect();
            let _ = run(&text.join("\n"));
        }
    }
}
