//! Detector tests: attacks in the shapes public payload lists use (PayloadsAllTheThings,
//! GoTestWAF), written here, and benign texts chosen to look suspicious.

use super::*;

fn hit(place: Place, v: &str) -> Option<Protection> {
    detect(place, v.as_bytes()).map(|d| d.protection)
}

#[test]
fn nosql_operators_in_names_keys_and_values() {
    for name in [
        "user[$ne]",
        "password[$gt]",
        "username[$regex]",
        "q[ $in ]",
        "$where",
    ] {
        assert_eq!(hit(Place::ArgName, name), Some(Protection::Nosql), "{name}");
    }
    for key in [
        "$ne",
        "$gt",
        "$where",
        "$regex",
        "$or",
        "$elemMatch",
        "$NIN",
    ] {
        assert_eq!(hit(Place::JsonKey, key), Some(Protection::Nosql), "{key}");
    }
    for v in [
        r#"{"$ne": null}"#,
        r#"{"$gt": ""}"#,
        "{$gt: ''}",
        r#"{"username": {"$regex": "^adm"}}"#,
        "true, $where: '1 == 1'",
        "', $where: '1 == 1",
        "1, $where: '1 == 1'",
        "', $or: [ {}, { 'a':'a",
        "' } ], $comment:'successful MongoDB injection'",
        "db.injection.insert({success:1});",
        "' && this.password.match(/.*/)//+%00",
        "'|| this.username == 'admin",
        "[$ne]=1",
    ] {
        assert_eq!(hit(Place::ArgValue, v), Some(Protection::Nosql), "{v}");
    }
}

#[test]
fn template_injection() {
    for v in [
        "{{7*7}}",
        "{{ 7 * 7 }}",
        "{{config.items()}}",
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "{{self._TemplateReference__context.cycler.__init__.__globals__.os.popen('id').read()}}",
        "{{request.application.__globals__}}",
        "{{lipsum.__globals__['os'].popen('id').read()}}",
        "${7*7}",
        "${{7*7}}",
        "${T(java.lang.Runtime).getRuntime().exec('id')}",
        "#{7*7}",
        "*{7*7}",
        "@(7*7)",
        "<%= 7*7 %>",
        "<%= system('id') %>",
        "<%- global.process.mainModule.require('child_process').execSync('id') %>",
        "{% import os %}{{ os.system('id') }}",
        "<#assign ex=\"freemarker.template.utility.Execute\"?new()> ${ex(\"id\")}",
        "#set($x='')#set($rt=$x.class.forName('java.lang.Runtime'))",
        "{$smarty.version}",
        "{php}echo `id`;{/php}",
        "${\"freemarker.template.utility.Execute\"?new()(\"id\")}",
    ] {
        assert_eq!(hit(Place::ArgValue, v), Some(Protection::Ssti), "{v}");
    }
}

#[test]
fn ldap_filter_injection() {
    for v in [
        "*)(uid=*))(|(uid=*",
        "*)(|(objectclass=*)",
        "admin)(&)",
        "admin)(|(password=*)",
        "*(|(mail=*))",
        "*(|(objectclass=*))",
        "*()|&'",
        "*))%00",
        "(&(objectClass=*))",
        "x)(cn=*",
        "admin*)((|userPassword=*)",
    ] {
        assert_eq!(hit(Place::ArgValue, v), Some(Protection::Ldap), "{v}");
    }
}

#[test]
fn crlf_injection() {
    for (place, v) in [
        (Place::ArgValue, "%0d%0aSet-Cookie:crlfinjection=1"),
        (Place::ArgValue, "%0D%0ASet-Cookie: a=b"),
        (Place::ArgValue, "%0aLocation: https://evil.example"),
        (Place::ArgValue, "\u{560a}\u{560d}Set-Cookie:crlf=1"),
        (Place::ArgValue, "x\r\nSet-Cookie: session=evil"),
        (
            Place::ArgValue,
            "x\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK",
        ),
        (Place::ArgValue, "%0d%0a%0d%0a<script>alert(1)</script>"),
        (Place::ArgValue, "\\r\\nSet-Cookie: a=b"),
        (Place::Path, "/page\r\nLocation: http://evil.example"),
        (Place::HeaderValue, "en\nX-Injected: 1"),
        (Place::CookieValue, "a\r\nFoo: bar"),
    ] {
        assert_eq!(hit(place, v), Some(Protection::Crlf), "{place:?} {v:?}");
    }
}

/// Benign values that contain the characters the detectors look for. None may fire.
#[test]
fn benign_texts_stay_clean() {
    let values = [
        // NoSQL look-alikes.
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "x"}"#,
        "It costs $5, or $10 with shipping: cheap",
        "Price in $: 12.50",
        "Use $in and $out as shell variables",
        "the database db.example.com is down",
        "this.value is undefined in my code",
        "I paid $gt 20 for it",
        // Template look-alikes.
        "Hello {{ name }}, your order {{ order_id }} shipped",
        "Set PATH=${HOME}/bin:${PATH}",
        "Sass: .a { color: #{$brand}; }",
        "Email me at bob@example.com (work)",
        "{% raw %}",
        "Progress: 50% done, 100% tomorrow",
        "Use <% and %> carefully",
        "5 * 7 = 35 and {x} is a set",
        "#1 in sales, #{rank} unknown",
        "@(twitter)",
        // LDAP look-alikes.
        "f(x)(y) is a product; see (a)(b) in the paper",
        "Call me (maybe) (later)",
        "emoticons :-) (-: *)",
        "Search (title=foo) or (author=bar)",
        "A* (star) rating",
        "(&) ampersand in parens",
        // CRLF look-alikes.
        "Dear Bob,\nLocation: Berlin office\nRegards: Alice",
        "Line one\r\nLine two: details\r\n",
        "Notes:\n- item: one\n- item: two",
        "100%0 is not an encoding",
        "C:\\new folder\\notes.txt",
        "Subject: hello\nBody: text",
        // SQL-ish prose (the JSON bio CRS at PL1 flags).
        "I like to select the best parts and union them into one story",
        r#"{"bio": "Select your path; union of art and code. Drop by anytime!"}"#,
    ];
    for v in values {
        for place in [Place::ArgValue, Place::HeaderValue, Place::CookieValue] {
            // Free text with line breaks belongs in bodies, not headers or cookies.
            if place != Place::ArgValue && v.contains('\n') {
                continue;
            }
            assert_eq!(detect(place, v.as_bytes()), None, "{place:?} {v:?}");
        }
    }
    for key in [
        "$schema",
        "$id",
        "$ref",
        "$type",
        "price$",
        "name",
        "user[name]",
        "a[$]",
    ] {
        assert_eq!(detect(Place::JsonKey, key.as_bytes()), None, "{key}");
        assert_eq!(detect(Place::ArgName, key.as_bytes()), None, "{key}");
    }
}

#[test]
fn libinjection_helpers() {
    assert!(is_sqli(b"1' OR '1'='1"));
    assert!(is_sqli(b"1 UNION SELECT username, password FROM users--"));
    assert!(!is_sqli(
        b"I like to select the best parts and union them into one story"
    ));
    assert!(!is_sqli(b"O'Reilly"));
    assert!(sqli_fingerprint(b"1' OR '1'='1").is_some_and(|f| !f.is_empty()));
    assert!(sqli_fingerprint(b"hello").is_none());
    assert!(is_xss(b"<script>alert(1)</script>"));
    assert!(is_xss(b"<img src=x onerror=alert(1)>"));
    assert!(!is_xss(b"a < b and c > d"));
    assert!(!is_xss(b"Tom & Jerry <3"));
}

#[test]
fn detectors_never_panic_on_arbitrary_bytes() {
    let mut seed: u64 = 42;
    let alphabet = b"$[]{}()*|&!=<>%#@:\r\n\\'\"0adx7 ";
    for _ in 0..20_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 64) as usize;
        let v: Vec<u8> = (0..len)
            .map(|i| {
                let r = seed.rotate_left(i as u32 * 5);
                if r.is_multiple_of(4) {
                    (r >> 8) as u8
                } else {
                    alphabet[(r >> 16) as usize % alphabet.len()]
                }
            })
            .collect();
        for place in [Place::ArgName, Place::ArgValue, Place::JsonKey, Place::Path] {
            let _ = detect(place, &v);
        }
    }
}

#[test]
fn nosql_javascript_breakouts() {
    for v in [
        "';return 'a'=='a' && ''=='",
        "\";return(true);var xyz='a",
        "0;return true",
        "';sleep(5000);",
        "';it=new Date();do{pt=new Date();}while(pt-it<5000);",
        "|| 1==1",
    ] {
        assert_eq!(hit(Place::ArgValue, v), Some(Protection::Nosql), "{v}");
    }
    for v in ["Don't return it; keep it", "a || b", "x; returns are free"] {
        assert_eq!(hit(Place::ArgValue, v), None, "{v}");
    }
}

#[test]
fn template_engines_beyond_jinja() {
    for v in [
        "{{7*'7'}}",
        "{{dump(app)}}",
        "{{'a'.toUpperCase()}}",
        "{{request|attr('application')}}",
        "${self.module.cache.util.os.system(\"id\")}",
        "${self.__init__.__globals__['util'].os.system('id')}",
        "${T(org.apache.commons.io.IOUtils).toString(1)}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{% endfor %}",
        "{% for key, value in config.iteritems() %}{{ key }}{% endfor %}",
    ] {
        assert_eq!(hit(Place::ArgValue, v), Some(Protection::Ssti), "{v}");
    }
    assert_eq!(
        hit(Place::ArgValue, "%25250aSet-Cookie:crlf=injection"),
        Some(Protection::Crlf)
    );
}

/// The 588 real User-Agents of the CRS regression suite, as header values: none fires.
#[test]
fn popular_user_agents_stay_clean() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/corpus/crs-v4.28.0/tests/regression/utils/data/popularUAs.data");
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{} is missing and CI=true",
            path.display()
        );
        eprintln!("skipping: {} is missing", path.display());
        return;
    };
    let uas: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert!(uas.len() > 500, "{} user agents", uas.len());
    for ua in uas {
        assert_eq!(detect(Place::HeaderValue, ua.as_bytes()), None, "{ua}");
    }
}
