//! `GET /`: the built-in status page. One self-contained HTML document (its
//! style sheet and script, in `page/`, are compiled into the binary and
//! inlined) that polls the JSON API of the same origin and draws the state,
//! charts and tables; no font, script or image comes from anywhere else,
//! and its Content-Security-Policy forbids it (inline code is allowed by
//! hash only, connections to the same origin only).
//!
//! Access is the API's: loopback or `monitoring.allow`, and with
//! `monitoring.token` the page itself must be opened as `/?token=TOKEN`
//! (a browser cannot send a header on navigation); the script then sends
//! that token as a bearer header with every API call.

use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

const TEMPLATE: &str = include_str!("page/index.html");
const STYLE: &str = include_str!("page/style.css");
const SCRIPT: &str = include_str!("page/app.js");

struct Page {
    html: String,
    csp: String,
}

fn sha256_source(text: &str) -> String {
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes())))
}

fn page() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| Page {
        html: TEMPLATE.replacen("/*STYLE*/", STYLE, 1).replacen("/*SCRIPT*/", SCRIPT, 1),
        csp: format!(
            "default-src 'none'; style-src {}; script-src {}; connect-src 'self'; img-src data:; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            sha256_source(STYLE),
            sha256_source(SCRIPT)
        ),
    })
}

/// Serves the page.
pub(super) async fn handler() -> Response {
    let p = page();
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, p.csp.as_str()),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        p.html.clone(),
    )
        .into_response()
}

/// True when `request` opens the page with `?token=` equal to `expected`.
pub(super) fn opened_with_token(expected: &str, request: &Request) -> bool {
    page_token(request).is_some_and(|given| super::same_token(expected, &given))
}

/// True when the page is asked for with some `?token=` (right or wrong).
pub(super) fn offers_token(request: &Request) -> bool {
    page_token(request).is_some()
}

fn page_token(request: &Request) -> Option<String> {
    if request.uri().path() != "/" {
        return None;
    }
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_whole_and_names_no_other_host() {
        let p = page();
        assert!(!p.html.contains("/*STYLE*/") && !p.html.contains("/*SCRIPT*/"));
        assert!(p.html.contains(STYLE) && p.html.contains(SCRIPT));
        // Only the SVG namespace name looks like a URL; nothing is loaded from one.
        let urls: Vec<&str> = p.html.match_indices("://").map(|(i, _)| &p.html[i.saturating_sub(8)..i + 24]).collect();
        assert!(urls.iter().all(|u| u.contains("http://www.w3.org/2000/svg")), "{urls:?}");
        assert!(!p.html.contains("@import") && !p.html.contains("url("), "no external style resources");
        assert!(p.csp.starts_with("default-src 'none';") && p.csp.contains("connect-src 'self'"));
    }

    #[test]
    fn the_token_is_taken_from_the_page_query_only() {
        let req = |uri: &str| Request::builder().uri(uri).body(axum::body::Body::empty()).unwrap();
        assert!(opened_with_token("s3cret", &req("/?token=s3cret")));
        assert!(opened_with_token("a b&c", &req("/?x=1&token=a+b%26c")));
        assert!(!opened_with_token("s3cret", &req("/?token=s3cre")));
        assert!(!opened_with_token("s3cret", &req("/")));
        assert!(!opened_with_token("s3cret", &req("/api/v1/status?token=s3cret")), "the API wants the header");
    }
}
