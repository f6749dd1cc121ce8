//! Notes are Markdown, rendered to HTML that is safe by construction: raw HTML in the
//! text is shown as text (so no script, style or event handler survives), and links
//! and images may only point to http(s), mailto or relative URLs. The same code runs
//! in the browser (preview) and on the server. The parser is pulldown-cmark; the two
//! safety rules are ours on purpose (a few lines over its events): an HTML sanitizer
//! such as ammonia would bring an HTML5 parser into the browser's wasm for the preview.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // A scheme before any '/', '?' or '#': only these.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true, // relative
    }
}

/// Markdown to safe HTML.
pub fn render(text: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        // Raw HTML becomes visible text, escaped by the renderer.
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) if !safe_url(&dest_url) => {
            Event::Start(Tag::Link { link_type, dest_url: CowStr::from("#unsafe-link-removed"), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) if !safe_url(&dest_url) => {
            Event::Start(Tag::Image { link_type, dest_url: CowStr::from("#unsafe-image-removed"), title, id })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_markdown() {
        let html = render("# PSU\n\n- **slot 2** replaced\n- see [ticket](https://tickets/42)");
        assert!(html.contains("<h1>PSU</h1>"));
        assert!(html.contains("<strong>slot 2</strong>"));
        assert!(html.contains("<a href=\"https://tickets/42\">ticket</a>"));
    }

    /// No script, no event handler, no javascript: URL survives.
    #[test]
    fn nothing_executable_survives() {
        let evil = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n\
                    [click](javascript:alert(3)) ![i](JaVaScRiPt:alert(4)) [d](data:text/html,x)\n\n\
                    <a href=\"javascript:alert(5)\">x</a> <b onmouseover=\"alert(6)\">y</b>";
        let html = render(evil);
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "{html}");
        assert!(!lower.contains("<img src=\"x\""), "{html}");
        assert!(!lower.contains("<a href=\"javascript"), "{html}");
        assert!(!lower.contains("<img src=\"javascript"), "{html}");
        assert!(!lower.contains("<a href=\"data:"), "{html}");
        assert_eq!(lower.matches("<a ").count(), 2, "only the two Markdown links are links: {html}");
        assert!(!lower.contains("<b onmouseover"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "raw HTML is shown as text: {html}");
    }
}
