//! The CIB model the export builds, and its XML in the Pacemaker schema Debian 12's Pacemaker
//! 2.1 validates against (`pacemaker-3.9`; roles are `Promoted`/`Unpromoted` since 3.7).

use std::fmt::Write as _;

/// The schema the file declares (`validate-with`).
pub const SCHEMA: &str = "pacemaker-3.9";
/// A group's preference for its haresources node.
pub const PREFER_SCORE: u32 = 100;
/// `auto_failback off`: resources stay where they run, so stickiness beats the preference.
pub const STAY_STICKINESS: u32 = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub name: &'static str,
    pub interval: &'static str,
    pub timeout: &'static str,
    pub role: Option<&'static str>,
}

impl Op {
    pub const fn new(name: &'static str, interval: &'static str, timeout: &'static str) -> Op {
        Op {
            name,
            interval,
            timeout,
            role: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Primitive {
    pub id: String,
    pub class: &'static str,
    pub provider: Option<&'static str>,
    pub kind: String,
    pub params: Vec<(String, String)>,
    pub ops: Vec<Op>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource {
    Primitive(Primitive),
    Group {
        id: String,
        members: Vec<Primitive>,
    },
    Clone {
        id: String,
        meta: Vec<(&'static str, String)>,
        inner: Primitive,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    /// `rsc` prefers (or, with a negative score, avoids) `node`.
    Location {
        id: String,
        rsc: String,
        node: String,
        score: String,
    },
    /// `rsc` runs on nodes where the node attribute `attr` is larger (ipfail's "the node that
    /// sees more ping nodes").
    AttributeScore {
        id: String,
        rsc: String,
        attr: String,
    },
    /// `rsc` runs where `with` runs in role `with_role` (if any).
    Colocation {
        id: String,
        rsc: String,
        with: String,
        with_role: Option<&'static str>,
    },
    /// `first`'s `first_action` before `then`'s start.
    Order {
        id: String,
        first: String,
        first_action: &'static str,
        then: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cib {
    pub properties: Vec<(&'static str, String)>,
    pub nodes: Vec<String>,
    pub resources: Vec<Resource>,
    pub constraints: Vec<Constraint>,
    pub stickiness: u32,
}

impl Cib {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<cib validate-with=\"{SCHEMA}\" epoch=\"1\" \
             num_updates=\"0\" admin_epoch=\"0\">\n  <configuration>\n    <crm_config>\n      \
             <cluster_property_set id=\"cib-bootstrap-options\">"
        );
        for (name, value) in &self.properties {
            nvpair(&mut s, 8, "cib-bootstrap-options", name, value);
        }
        s.push_str("      </cluster_property_set>\n    </crm_config>\n    <nodes>\n");
        for (i, n) in self.nodes.iter().enumerate() {
            let _ = writeln!(s, "      <node id=\"{}\" uname=\"{}\"/>", i + 1, esc(n));
        }
        s.push_str("    </nodes>\n    <resources>\n");
        for r in &self.resources {
            match r {
                Resource::Primitive(p) => primitive(&mut s, 6, p),
                Resource::Group { id, members } => {
                    let _ = writeln!(s, "      <group id=\"{}\">", esc(id));
                    for p in members {
                        primitive(&mut s, 8, p);
                    }
                    s.push_str("      </group>\n");
                }
                Resource::Clone { id, meta, inner } => {
                    let _ = writeln!(s, "      <clone id=\"{}\">", esc(id));
                    let mid = format!("{id}-meta");
                    let _ = writeln!(s, "        <meta_attributes id=\"{}\">", esc(&mid));
                    for (n, v) in meta {
                        nvpair(&mut s, 10, &mid, n, v);
                    }
                    s.push_str("        </meta_attributes>\n");
                    primitive(&mut s, 8, inner);
                    s.push_str("      </clone>\n");
                }
            }
        }
        s.push_str("    </resources>\n    <constraints>\n");
        for c in &self.constraints {
            constraint(&mut s, c);
        }
        s.push_str(
            "    </constraints>\n    <rsc_defaults>\n      <meta_attributes id=\"rsc-options\">\n",
        );
        nvpair(
            &mut s,
            8,
            "rsc-options",
            "resource-stickiness",
            &self.stickiness.to_string(),
        );
        s.push_str(
            "      </meta_attributes>\n    </rsc_defaults>\n  </configuration>\n  <status/>\n</cib>\n",
        );
        s
    }
}

fn nvpair(s: &mut String, indent: usize, set: &str, name: &str, value: &str) {
    let _ = writeln!(
        s,
        "{:indent$}<nvpair id=\"{}\" name=\"{}\" value=\"{}\"/>",
        "",
        esc(&format!("{set}-{name}")),
        esc(name),
        esc(value)
    );
}

fn primitive(s: &mut String, indent: usize, p: &Primitive) {
    let provider = p
        .provider
        .map(|v| format!(" provider=\"{v}\""))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "{:indent$}<primitive id=\"{}\" class=\"{}\"{provider} type=\"{}\">",
        "",
        esc(&p.id),
        p.class,
        esc(&p.kind)
    );
    let inner = indent + 2;
    if !p.params.is_empty() {
        let set = format!("{}-params", p.id);
        let _ = writeln!(s, "{:inner$}<instance_attributes id=\"{}\">", "", esc(&set));
        for (n, v) in &p.params {
            nvpair(s, inner + 2, &set, n, v);
        }
        let _ = writeln!(s, "{:inner$}</instance_attributes>", "");
    }
    let _ = writeln!(s, "{:inner$}<operations>", "");
    for op in &p.ops {
        let role = op
            .role
            .map(|r| format!(" role=\"{r}\""))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{:w$}<op id=\"{}-{}-{}\" name=\"{}\" interval=\"{}\" timeout=\"{}\"{role}/>",
            "",
            esc(&p.id),
            op.name,
            op.interval,
            op.name,
            op.interval,
            op.timeout,
            w = inner + 2
        );
    }
    let _ = writeln!(s, "{:inner$}</operations>", "");
    let _ = writeln!(s, "{:indent$}</primitive>", "");
}

fn constraint(s: &mut String, c: &Constraint) {
    let _ = match c {
        Constraint::Location {
            id,
            rsc,
            node,
            score,
        } => writeln!(
            s,
            "      <rsc_location id=\"{}\" rsc=\"{}\" node=\"{}\" score=\"{}\"/>",
            esc(id),
            esc(rsc),
            esc(node),
            esc(score)
        ),
        Constraint::AttributeScore { id, rsc, attr } => writeln!(
            s,
            "      <rsc_location id=\"{0}\" rsc=\"{1}\">\n        <rule id=\"{0}-rule\" \
             score-attribute=\"{2}\">\n          <expression id=\"{0}-expr\" attribute=\"{2}\" \
             operation=\"defined\"/>\n        </rule>\n      </rsc_location>",
            esc(id),
            esc(rsc),
            esc(attr)
        ),
        Constraint::Colocation {
            id,
            rsc,
            with,
            with_role,
        } => writeln!(
            s,
            "      <rsc_colocation id=\"{}\" rsc=\"{}\" with-rsc=\"{}\"{} score=\"INFINITY\"/>",
            esc(id),
            esc(rsc),
            esc(with),
            with_role
                .map(|r| format!(" with-rsc-role=\"{r}\""))
                .unwrap_or_default()
        ),
        Constraint::Order {
            id,
            first,
            first_action,
            then,
        } => writeln!(
            s,
            "      <rsc_order id=\"{}\" first=\"{}\" first-action=\"{first_action}\" then=\"{}\" \
             then-action=\"start\" kind=\"Mandatory\"/>",
            esc(id),
            esc(first),
            esc(then)
        ),
    };
}

/// XML attribute text.
pub fn esc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// An XML ID (an NCName) from free text: `198.51.100.10` → `ip_198.51.100.10`.
pub fn xml_id(prefix: &str, text: &str) -> String {
    let body: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let body = body.trim_matches('_');
    if body.is_empty() {
        prefix.to_string()
    } else {
        format!("{prefix}_{body}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_ids_are_names() {
        assert_eq!(esc("a\"<&>'"), "a&quot;&lt;&amp;&gt;&apos;");
        assert_eq!(xml_id("fs", "/dev/sda1"), "fs_dev_sda1");
        assert_eq!(xml_id("lsb", "my httpd"), "lsb_my_httpd");
        assert_eq!(xml_id("x", "//"), "x");
    }
}
