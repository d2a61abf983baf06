use super::*;

fn vars(name: &str) -> Option<String> {
    match name {
        "x" => Some("hello".into()),
        "empty" => Some(String::new()),
        "spaced" => Some(" d  e ".into()),
        "path" => Some("path/to/file.tar.gz".into()),
        "star" => Some("a*b".into()),
        "b" => Some("from-b".into()),
        _ => None,
    }
}

fn word(w: &str) -> Result<String, ExpandError> {
    Lexer::default().process_word(w, &vars)
}

fn ok(w: &str) -> String {
    word(w).unwrap_or_else(|e| panic!("{w}: {e}"))
}

fn words(w: &str) -> Vec<String> {
    Lexer::default().process_words(w, &vars).unwrap()
}

#[test]
fn quotes_and_escapes() {
    assert_eq!(ok(r"\$x"), "$x");
    assert_eq!(ok("'$x'"), "$x");
    assert_eq!(ok(r"'a\b'"), r"a\b");
    assert_eq!(ok(r#""a\"b""#), r#"a"b"#);
    assert_eq!(ok(r#""a\b""#), r"a\b");
    assert_eq!(ok(r#""\$x""#), "$x");
    assert_eq!(ok(r#""\\""#), r"\");
    assert_eq!(ok(r"a\ b"), "a b");
    assert_eq!(ok(r"a\"), "a");
    assert_eq!(ok(r#"a"b"'c'd"#), "abcd");
    assert_eq!(ok(r#""it's""#), "it's");
    assert_eq!(ok(r#"'say "hi"'"#), r#"say "hi""#);
    assert_eq!(ok("  spaced  words "), "  spaced  words ");
}

#[test]
fn backtick_escape() {
    let lexer = Lexer { escape: '`' };
    assert_eq!(
        lexer.process_word(r"C:\path\$x", &vars).unwrap(),
        r"C:\path\hello"
    );
    assert_eq!(lexer.process_word("`$x", &vars).unwrap(), "$x");
    assert_eq!(lexer.process_word("a` b", &vars).unwrap(), "a b");
    assert_eq!(lexer.process_word("\"`\"\"", &vars).unwrap(), "\"");
    assert_eq!(lexer.process_word(r#""C:\dir""#, &vars).unwrap(), r"C:\dir");
}

#[test]
fn variables() {
    assert_eq!(ok("$x"), "hello");
    assert_eq!(ok("${x}"), "hello");
    assert_eq!(ok("$x-$x"), "hello-hello");
    assert_eq!(ok("${x}world"), "helloworld");
    assert_eq!(ok("$xworld"), "");
    assert_eq!(ok("$unset"), "");
    assert_eq!(ok("$"), "$");
    assert_eq!(ok("a$"), "a$");
    assert_eq!(ok("$ x"), "$ x");
    assert_eq!(ok("$/"), "$/");
    assert_eq!(ok("$1"), "");
    assert_eq!(ok("$12x"), "x");
    assert_eq!(ok("$$"), "");
    assert_eq!(ok("\"$x\""), "hello");
    assert_eq!(ok("${x_1}"), "");
}

#[test]
fn defaults_and_alternatives() {
    assert_eq!(ok("${unset:-a}"), "a");
    assert_eq!(ok("${empty:-a}"), "a");
    assert_eq!(ok("${x:-a}"), "hello");
    assert_eq!(ok("${unset-a}"), "a");
    assert_eq!(ok("${empty-a}"), "");
    assert_eq!(ok("${x:+set}"), "set");
    assert_eq!(ok("${empty:+set}"), "");
    assert_eq!(ok("${empty+set}"), "set");
    assert_eq!(ok("${unset+set}"), "");
    assert_eq!(ok("\"${unset:-a b}\""), "a b");
    assert_eq!(ok("${unset:-a b}"), "a b");
    assert_eq!(ok("${unset:-${b}}"), "from-b");
    assert_eq!(ok("${unset:-${also_unset:-deep}}"), "deep");
    assert_eq!(ok("${unset:-'${x}'}"), "${x}");
    assert_eq!(ok(r"${unset:-a\}b}"), "a}b");
    assert_eq!(ok("${unset:-\"q}\"}"), "q}");
    assert_eq!(ok("${x:?must be set}"), "hello");
}

#[test]
fn required_variables() {
    assert_eq!(word("${unset:?need it}").unwrap_err().0, "unset: need it");
    assert_eq!(
        word("${unset?}").unwrap_err().0,
        "unset: is not allowed to be unset"
    );
    assert_eq!(
        word("${empty:?}").unwrap_err().0,
        "empty: is not allowed to be empty"
    );
    assert_eq!(ok("${empty?}"), "");
}

#[test]
fn malformed() {
    for bad in [
        "${", "${x", "${x:-a", "${}", "${:x}", "${{x}}", "'abc", "\"abc", "${x!}", "${x:5}",
        "${x:", "\"${x\"", "${x:-'}",
    ] {
        assert!(word(bad).is_err(), "{bad} expanded");
    }
    assert_eq!(word("${").unwrap_err().0, "syntax error: missing '}'");
    assert_eq!(
        word("${x").unwrap_err().to_string(),
        "syntax error: missing '}'"
    );
}

#[test]
fn nesting_is_bounded() {
    let deep = "${a:-".repeat(100_000);
    assert!(word(&deep).is_err());
    let fine = format!("{}x{}", "${a:-".repeat(10), "}".repeat(10));
    assert_eq!(ok(&fine), "x");
}

#[test]
fn patterns() {
    assert_eq!(ok("${path#*/}"), "to/file.tar.gz");
    assert_eq!(ok("${path##*/}"), "file.tar.gz");
    assert_eq!(ok("${path%.*}"), "path/to/file.tar");
    assert_eq!(ok("${path%%.*}"), "path/to/file");
    assert_eq!(ok("${path#nomatch}"), "path/to/file.tar.gz");
    assert_eq!(ok("${path/t/T}"), "paTh/to/file.tar.gz");
    assert_eq!(ok("${path//t/T}"), "paTh/To/file.Tar.gz");
    assert_eq!(ok("${path/.tar}"), "path/to/file.gz");
    assert_eq!(ok("${path//[aeiou]/_}"), "p_th/t_/f_l_.t_r.gz");
    assert_eq!(ok("${path/*/all}"), "all");
    assert_eq!(ok("${star#a*}"), "*b");
    assert_eq!(ok("${star##a*}"), "");
    assert_eq!(ok("${star#\"a*\"}"), "b");
    assert_eq!(ok(r"${star#a\*}"), "b");
    assert_eq!(ok("${unset#*}"), "");
}

#[test]
fn word_splitting() {
    assert_eq!(words("a \"b c\" $spaced"), vec!["a", "b c", "d", "e"]);
    assert_eq!(words("\"$spaced\""), vec![" d  e "]);
    assert_eq!(words("a '' \"\" b"), vec!["a", "b"]);
    assert_eq!(words(r"a\ b c"), vec!["a b", "c"]);
    assert_eq!(words("x${spaced}y"), vec!["x", "d", "e", "y"]);
    assert_eq!(words("a${b}c"), vec!["afrom-bc"]);
    assert_eq!(words("  8080/tcp\t 443  "), vec!["8080/tcp", "443"]);
    assert!(words("").is_empty());
    assert!(Lexer::default().process_words("'open", &vars).is_err());
}
