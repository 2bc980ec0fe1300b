//! A tiny description of DOM content that the panels build and the page inserts.
//!
//! The type is the security boundary. Element and attribute **names** are `&'static str`,
//! chosen by this crate's code; only text and attribute **values** carry data, and the page
//! inserts text with `createTextNode` and values with `setAttribute` — never `innerHTML`. No
//! attribute that the browser would load or run (`src`, `href`, `on*`, `style`) can be built:
//! [`El::attr`] refuses them. So a service called `<img src=x onerror=alert(1)>` is shown as
//! those characters, whatever the server sends.

/// A node: an element or a piece of text.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// An element.
    El(El),
    /// Text, inserted as a text node.
    Text(String),
}

/// Which namespace an element lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ns {
    /// HTML.
    Html,
    /// SVG (the trend chart).
    Svg,
}

/// An element with attributes and children.
#[derive(Clone, Debug, PartialEq)]
pub struct El {
    /// The tag, e.g. `div`.
    pub tag: &'static str,
    /// HTML or SVG.
    pub ns: Ns,
    /// Attributes, in order.
    pub attrs: Vec<(&'static str, String)>,
    /// Children, in order.
    pub children: Vec<Node>,
}

/// Attribute names that load or run something, or style freely: never built.
fn forbidden(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("on")
        || matches!(
            lower.as_str(),
            "src" | "srcset" | "href" | "xlink:href" | "action" | "formaction" | "style" | "srcdoc"
        )
}

impl El {
    /// An HTML element.
    pub fn new(tag: &'static str) -> Self {
        El {
            tag,
            ns: Ns::Html,
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// An SVG element.
    pub fn svg(tag: &'static str) -> Self {
        El {
            ns: Ns::Svg,
            ..El::new(tag)
        }
    }

    /// Sets an attribute.
    ///
    /// # Panics
    ///
    /// On an attribute that loads or runs something (`src`, `href`, `on…`, `style`): a
    /// programming error in this crate, caught by its tests.
    pub fn attr(mut self, name: &'static str, value: impl Into<String>) -> Self {
        assert!(!forbidden(name), "attribute {name} is never built");
        self.attrs.push((name, value.into()));
        self
    }

    /// Sets `class`.
    pub fn class(self, class: impl Into<String>) -> Self {
        self.attr("class", class)
    }

    /// Adds a text child.
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.children.push(Node::Text(text.into()));
        self
    }

    /// Adds an element child.
    pub fn child(mut self, child: El) -> Self {
        self.children.push(Node::El(child));
        self
    }

    /// Adds element children.
    pub fn children(mut self, children: impl IntoIterator<Item = El>) -> Self {
        self.children.extend(children.into_iter().map(Node::El));
        self
    }

    /// The value of attribute `name`.
    pub fn get_attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every text inside, concatenated (what `textContent` would give).
    pub fn text_content(&self) -> String {
        let mut out = String::new();
        self.collect_text(&mut out);
        out
    }

    fn collect_text(&self, out: &mut String) {
        for c in &self.children {
            match c {
                Node::Text(t) => out.push_str(t),
                Node::El(e) => e.collect_text(out),
            }
        }
    }

    /// Every element inside (this one included), depth first.
    pub fn descendants(&self) -> Vec<&El> {
        let mut out = vec![self];
        for c in &self.children {
            if let Node::El(e) = c {
                out.extend(e.descendants());
            }
        }
        out
    }

    /// The elements inside whose `class` list contains `class`.
    pub fn find_class(&self, class: &str) -> Vec<&El> {
        self.descendants()
            .into_iter()
            .filter(|e| {
                e.get_attr("class")
                    .is_some_and(|c| c.split_whitespace().any(|c| c == class))
            })
            .collect()
    }
}

/// How a value reads: the colour it is shown in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Green.
    Good,
    /// Orange.
    Warn,
    /// Red.
    Bad,
    /// Grey: no judgement (no data, idle).
    Neutral,
}

impl Tone {
    /// The CSS class.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Good => "good",
            Tone::Warn => "warn",
            Tone::Bad => "bad",
            Tone::Neutral => "neutral",
        }
    }

    /// A value where higher is worse: `Bad` at or above `bad`, `Warn` at or above `warn`,
    /// else `Good` (the original page's rule).
    pub fn higher_is_worse(value: f64, warn: f64, bad: f64) -> Tone {
        if value >= bad {
            Tone::Bad
        } else if value >= warn {
            Tone::Warn
        } else {
            Tone::Good
        }
    }

    /// A value where higher is better: `Good` at or above `good`, `Warn` at or above `warn`,
    /// else `Bad`.
    pub fn higher_is_better(value: f64, good: f64, warn: f64) -> Tone {
        if value >= good {
            Tone::Good
        } else if value >= warn {
            Tone::Warn
        } else {
            Tone::Bad
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "never built")]
    fn event_handlers_cannot_be_built() {
        let _ = El::new("div").attr("onclick", "x");
    }

    #[test]
    fn loading_attributes_cannot_be_built() {
        for name in ["src", "HREF", "style", "onError", "xlink:href", "srcdoc"] {
            assert!(forbidden(name), "{name}");
        }
        for name in ["class", "title", "data-state", "d", "points", "viewBox"] {
            assert!(!forbidden(name), "{name}");
        }
    }

    #[test]
    fn tones() {
        assert_eq!(Tone::higher_is_worse(69.9, 70.0, 90.0), Tone::Good);
        assert_eq!(Tone::higher_is_worse(70.0, 70.0, 90.0), Tone::Warn);
        assert_eq!(Tone::higher_is_worse(90.0, 70.0, 90.0), Tone::Bad);
        assert_eq!(Tone::higher_is_better(100.0, 95.0, 90.0), Tone::Good);
        assert_eq!(Tone::higher_is_better(92.0, 95.0, 90.0), Tone::Warn);
        assert_eq!(Tone::higher_is_better(10.0, 95.0, 90.0), Tone::Bad);
    }
}
