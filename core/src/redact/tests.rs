use proptest::prelude::*;

use super::*;

/// Names that carry secrets in the wild, as headers and as query parameters.
const SECRET_NAMES: &[&str] = &[
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "Set-Cookie",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "X-Amz-Credential",
    "session_id",
    "sessionid",
    "JSESSIONID",
    "private_token",
    "PRIVATE-TOKEN",
    "jwt",
    "X-Access-Token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "apiKey",
    "api-key",
    "X-Api-Key",
    "X-Goog-Api-Key",
    "Ocp-Apim-Subscription-Key",
    "X-Tenant-Secret",
    "client_secret",
    "password",
    "passwd",
    "Passwort",
    "passphrase",
    "pwd",
    "pass",
    "sig",
    "signature",
    "X-Hub-Signature-256",
    "X-Auth-Token",
    "x-csrf-token",
    "_csrf",
    "X-XSRF-TOKEN",
    "authenticity_token",
    "oauth_token",
    "auth",
    "authorisation",
    "key",
    "otp",
    "X-Vault-Token",
    "credentials",
    "access%5Ftoken",
    "API%5FKEY",
];

/// Names that must stay visible (no over-redaction of ordinary traffic).
const VISIBLE_NAMES: &[&str] = &[
    "Accept",
    "Accept-Encoding",
    "Accept-Language",
    "Content-Type",
    "Content-Length",
    "User-Agent",
    "Cache-Control",
    "If-None-Match",
    "traceparent",
    "X-Request-Id",
    "page",
    "per_page",
    "limit",
    "offset",
    "q",
    "sort",
    "id",
    "keyword",
    "keywords",
    "keyboard",
    "keys",
    "author",
    "authors",
    "authority",
    "tokenizer",
    "code",
    "state",
    "passport",
];

#[test]
fn secret_names_match_the_rule_and_ordinary_names_do_not() {
    for name in SECRET_NAMES {
        assert!(is_secret_header(name), "{name} should be secret");
        assert!(is_secret_param(name), "{name} should be secret");
    }
    for name in VISIBLE_NAMES {
        assert!(!is_secret_header(name), "{name} should be visible");
    }
    // The one-pass matcher and the documented lists agree.
    for name in SECRET_NAME_PATTERNS.iter().chain(SECRET_NAME_WORDS) {
        assert!(is_secret_param(name), "{name}");
        assert!(is_secret_param(&format!("x-{name}-id")), "{name}");
    }
    for name in SECRET_HEADERS.iter().chain(SECRET_QUERY_PARAMS) {
        assert!(is_secret_header(name), "listed {name} must match the rule");
    }
}

#[test]
fn query_secrets_are_masked_and_others_kept() {
    for name in SECRET_NAMES {
        let shown = redact_url(&format!("https://h/p?page=2&{name}=S3CRET-VALUE&q=visible"));
        assert!(!shown.contains("S3CRET"), "{name}: {shown}");
        assert!(
            shown.contains("page=2") && shown.contains("q=visible"),
            "{shown}"
        );
        assert!(shown.contains(&format!("{name}={REDACTED}")), "{shown}");
    }
    for name in VISIBLE_NAMES {
        let url = format!("https://h/p?{name}=shown-value");
        assert_eq!(redact_url(&url), url);
    }
    assert_eq!(
        redact_url("https://h/p?a=1&api_key=s3cr3t;Token=abc&b=2"),
        "https://h/p?a=1&api_key=[REDACTED];Token=[REDACTED]&b=2"
    );
    assert_eq!(redact_url("https://h/p"), "https://h/p");
    assert_eq!(
        redact_url("https://h/p?flag&token"),
        "https://h/p?flag&token"
    );
    assert_eq!(redact_url(""), "");
    assert_eq!(redact_url("?%"), "?%");
    assert_eq!(redact_url("?%4"), "?%4");
    assert_eq!(redact_url("?%41PI_KEY=x"), "?%41PI_KEY=[REDACTED]");
}

#[test]
fn fragments_are_never_echoed() {
    assert_eq!(
        redact_url("https://h/cb#access_token=SECRET"),
        "https://h/cb"
    );
    assert_eq!(redact_url("https://h/cb?x=1#frag"), "https://h/cb?x=1");
    assert_eq!(redact_url("#only"), "");
}

#[test]
fn path_parameters_are_masked() {
    assert_eq!(
        redact_url("http://h/app;jsessionid=ABC123/x;v=2?y=1"),
        "http://h/app;jsessionid=[REDACTED]/x;v=2?y=1"
    );
}

#[test]
fn jwt_values_are_masked_whatever_their_name() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXZhbHVl";
    let shown = redact_url(&format!("https://h/p?t={jwt}&page=2"));
    assert_eq!(shown, "https://h/p?t=[REDACTED]&page=2");
    assert_eq!(redact_text(&format!("got {jwt}.")), "got [REDACTED].");
}

#[test]
fn userinfo_is_masked_even_when_the_url_does_not_parse() {
    let cases = [
        (
            "https://bob:pw@h:8080/x?y=1",
            "https://[REDACTED]@h:8080/x?y=1",
        ),
        ("http://user:pa#ss@host/", "http://[REDACTED]@host/"),
        ("http://user:pa?ss@host/x", "http://[REDACTED]@host/x"),
        ("http://user:pa/ss@host/x", "http://[REDACTED]@host/x"),
        ("http://user:p@ss@host/", "http://[REDACTED]@host/"),
        ("http:user:pw@host/x", "http:[REDACTED]@host/x"),
        ("http:\\\\user:pw@host/x", "http:\\\\[REDACTED]@host/x"),
        ("  http://u:pw@h/", "  http://[REDACTED]@h/"),
        ("//u:pw@h/x", "//[REDACTED]@h/x"),
        ("user:pw@host/x", "user:[REDACTED]@host/x"),
        ("pw@host/x", "[REDACTED]@host/x"),
        ("bob:pw#x@host", "bob:[REDACTED]@host"),
        ("http://:pw@h/", "http://[REDACTED]@h/"),
        ("http://u:p\tw@h\n/", "http://[REDACTED]@h/"),
        ("ftp://u:pw@h/", "ftp://[REDACTED]@h/"),
        (
            "http://TOKEN@github.com/x",
            "http://[REDACTED]@github.com/x",
        ),
    ];
    for (raw, shown) in cases {
        assert_eq!(redact_url(raw), shown, "{raw:?}");
    }
    // `@` later in a well-formed URL is not userinfo.
    assert_eq!(redact_url("https://h/x@y"), "https://h/x@y");
    assert_eq!(
        redact_url("https://h/?email=a@b.c"),
        "https://h/?email=a@b.c"
    );
    assert_eq!(redact_url("http://[::1]:80/a@b"), "http://[::1]:80/a@b");
    assert_eq!(redact_url("not a url"), "not a url");
    assert_eq!(redact_url("/relative?x=1"), "/relative?x=1");
}

#[test]
fn control_characters_cannot_forge_log_lines() {
    assert_eq!(
        redact_url("http://h/x\r\nX-Injected: 1\u{0}"),
        "http://h/xX-Injected: 1%00"
    );
}

#[test]
fn header_values_cannot_forge_log_lines_and_are_escaped_once() {
    let mut h = http::HeaderMap::new();
    h.insert("etag", HeaderValue::from_static("\"v1\""));
    h.insert(
        "x-note",
        HeaderValue::from_bytes("a\u{85}b\u{2028}c\td é".as_bytes()).unwrap(),
    );
    let pairs = redact_headers(&h);
    assert_eq!(pairs[0], ("etag".to_owned(), "\"v1\"".to_owned()));
    assert_eq!(
        pairs[1],
        ("x-note".to_owned(), "a\\u{85}b\\u{2028}c\td é".to_owned())
    );
}

#[test]
fn secret_headers_are_masked_by_name_marker_and_value() {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", "Bearer s3cr3t-1".parse().unwrap());
    h.insert("cookie", "sid=s3cr3t-2".parse().unwrap());
    h.insert("x-amz-signature", "s3cr3t-3".parse().unwrap());
    h.insert("x-custom", "Bearer s3cr3t-4".parse().unwrap());
    h.insert(
        "x-forwarded-jwt",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.s3cr3t-5-abc"
            .parse()
            .unwrap(),
    );
    let mut marked = HeaderValue::from_static("s3cr3t-6");
    marked.set_sensitive(true);
    h.insert("x-opaque", marked);
    h.insert("accept", "application/json".parse().unwrap());
    h.insert("x-request-id", "req-42".parse().unwrap());
    let pairs = redact_headers(&h);
    let shown = format!("{pairs:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
    assert!(shown.contains("application/json") && shown.contains("req-42"));
    assert_eq!(pairs.len(), 8);
}

#[test]
fn the_rule_can_be_extended_and_narrowed() {
    let r = Redactor::new()
        .secret_name("Code")
        .secret_pattern("TENANT")
        .keep_name("max_tokens");
    assert!(r.is_secret_name("code") && !r.is_secret_name("country_code"));
    assert!(r.is_secret_name("x-tenant-id"));
    assert!(!r.is_secret_name("MAX_TOKENS"));
    assert!(
        r.is_secret_name("access_token"),
        "the default rule still applies"
    );
    assert!(!Redactor::new().is_secret_name("x-tenant-id"));
    // A kept name still hides values that are secret by themselves.
    let kept = Redactor::new().keep_name("authorization");
    let mut v = HeaderValue::from_static("Bearer x");
    assert!(kept.is_secret_header("authorization", &v));
    v = HeaderValue::from_static("opaque");
    assert!(!kept.is_secret_header("authorization", &v));
    assert_eq!(
        kept.redact_url("https://u:p@h/?authorization=x"),
        "https://[REDACTED]@h/?authorization=x"
    );
}

#[test]
fn free_text_has_its_urls_redacted() {
    assert_eq!(
        redact_text("protocol: bad (GET http://u:pw@h/x?token=T1&q=1)"),
        "protocol: bad (GET http://[REDACTED]@h/x?token=[REDACTED]&q=1)"
    );
    assert_eq!(
        redact_text("location header is malformed: /next?token=HIDDEN"),
        "location header is malformed: /next?token=[REDACTED]"
    );
    assert_eq!(redact_text("connection refused"), "connection refused");
    assert_eq!(redact_text("  two  spaces "), "  two  spaces ");
}

#[test]
fn excerpts_are_bounded_on_character_boundaries() {
    assert_eq!(excerpt("abc", 3), "abc");
    assert_eq!(excerpt("abcd", 3), "abc…[+1 chars]");
    let long = "é".repeat(500);
    let cut = excerpt(&long, URL_EXCERPT_CHARS);
    assert!(cut.starts_with(&"é".repeat(URL_EXCERPT_CHARS)));
    assert!(cut.ends_with("…[+300 chars]"));
}

#[test]
fn debug_of_requests_and_responses_hides_secrets() {
    let request = http::Request::get("https://h/x?api_key=S1&page=2")
        .header("authorization", "Basic S2")
        .header("accept", "text/plain")
        .body(bytes::Bytes::from_static(b"S3 body"))
        .unwrap();
    let shown = format!("{:?}", debug_request(&request));
    assert!(
        !shown.contains("S1") && !shown.contains("S2") && !shown.contains("S3"),
        "{shown}"
    );
    assert!(shown.contains("page=2") && shown.contains("text/plain") && shown.contains("7 bytes"));
    let response = http::Response::builder()
        .header("set-cookie", "sid=S4")
        .header("content-type", "text/plain")
        .body(bytes::Bytes::new())
        .unwrap();
    let shown = format!("{:?}", debug_response(&response));
    assert!(
        !shown.contains("S4") && shown.contains("text/plain"),
        "{shown}"
    );
}

proptest! {
    #[test]
    fn never_panics(s in any::<String>()) {
        let _ = redact_url(&s);
        let _ = redact_text(&s);
        let _ = is_secret_param(&s);
        let _ = excerpt(&s, 7);
    }

    #[test]
    fn passwords_never_survive(pw in "[A-Za-z0-9#?/:%!$&'()*+,;=~.-]{0,12}", host in "[a-z]{1,8}(:[0-9]{1,4})?") {
        // Without a `user:` before it, a `/` makes the rest a path by the URL standard
        // (`https://Zq/ab@host` is host `Zq`): only passwords after a user may hold one.
        let password = format!("Zq{pw}Xj");
        let no_slash = password.replace('/', "");
        for (url, secret) in [
            (format!("http://user:{password}@{host}/p?q=1"), &password),
            (format!("https://{no_slash}@{host}"), &no_slash),
            (format!("http:{no_slash}@{host}/x"), &no_slash),
        ] {
            let shown = redact_url(&url);
            prop_assert!(!shown.contains(secret.as_str()), "{} -> {}", url, shown);
            prop_assert!(!shown.contains("Zq"), "{} -> {}", url, shown);
        }
    }
}
