//! `.dockerignore` rules against the examples docker's documentation gives.

use aurora_containerfile::IgnoreRules;

fn rules(text: &str) -> IgnoreRules {
    IgnoreRules::parse(text).unwrap()
}

#[test]
fn documented_example() {
    let r = rules("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
    // `*/temp*`: names starting with temp in any immediate subdirectory of the root.
    assert!(r.is_excluded("somedir/temporary.txt"));
    assert!(r.is_excluded("somedir/temp"));
    assert!(r.is_excluded("somedir/temp/inside.txt"));
    assert!(!r.is_excluded("temporary.txt"));
    // `*/*/temp*`: two levels below the root.
    assert!(r.is_excluded("somedir/subdir/temporary.txt"));
    assert!(!r.is_excluded("a/b/c/temporary.txt"));
    // `temp?`: in the root, temp and one more character.
    assert!(r.is_excluded("tempa"));
    assert!(r.is_excluded("tempb"));
    assert!(!r.is_excluded("temp"));
    assert!(!r.is_excluded("tempab"));
    // (`dir/tempa` would be, but by `*/temp*`; `temp?` alone holds to the root.)
    assert!(!rules("temp?").is_excluded("dir/tempa"));
    assert!(!r.is_excluded("comment"));
}

#[test]
fn double_star() {
    let r = rules("**/*.go\n");
    assert!(r.is_excluded("main.go"));
    assert!(r.is_excluded("cmd/app/main.go"));
    assert!(!r.is_excluded("main.gox"));
    assert!(!r.is_excluded("README.md"));
}

#[test]
fn exceptions() {
    let r = rules("*.md\n!README.md\n");
    assert!(r.is_excluded("CHANGES.md"));
    assert!(!r.is_excluded("README.md"));
    // A single star does not cross directories: docs/x.md is not matched.
    assert!(!r.is_excluded("docs/x.md"));

    let r = rules("*.md\n!README*.md\nREADME-secret.md\n");
    assert!(r.is_excluded("CHANGES.md"));
    assert!(!r.is_excluded("README.md"));
    assert!(!r.is_excluded("README-public.md"));
    assert!(r.is_excluded("README-secret.md"));

    // Later rules win: here the exception comes last and re-includes the secret too.
    let r = rules("*.md\nREADME-secret.md\n!README*.md\n");
    assert!(r.is_excluded("CHANGES.md"));
    assert!(!r.is_excluded("README-secret.md"));
    assert!(!r.is_excluded("README.md"));
}

#[test]
fn reinclusion_inside_an_excluded_directory() {
    let r = rules("node_modules\n!node_modules/keep/**\n");
    assert!(r.is_excluded("node_modules"));
    assert!(r.is_excluded("node_modules/left/index.js"));
    assert!(!r.is_excluded("node_modules/keep/index.js"));
    assert!(!r.is_excluded("node_modules/keep/deep/x"));
    assert!(r.may_include_under("node_modules"));
    assert!(r.may_include_under("node_modules/keep"));
    assert!(!r.may_include_under("node_modules/left"));
    assert!(!r.may_include_under("src"));

    let r = rules("docs/\n!docs/*.md\n");
    assert!(r.is_excluded("docs/image.png"));
    assert!(!r.is_excluded("docs/guide.md"));
    // A re-included directory brings its contents with it.
    let r = rules("build\n!build/keep\n");
    assert!(!r.is_excluded("build/keep/a/b"));
    assert!(r.is_excluded("build/other"));
}

#[test]
fn whole_context_with_exceptions() {
    let r = rules("*\n!src\n!Containerfile\n");
    assert!(r.is_excluded("README.md"));
    assert!(r.is_excluded("target/debug/x"));
    assert!(!r.is_excluded("src"));
    assert!(!r.is_excluded("src/main.rs"));
    assert!(!r.is_excluded("Containerfile"));
    assert!(r.may_include_under(""));
    assert!(!r.may_include_under("target"));
}

#[test]
fn leading_slash_and_cleaning() {
    let r = rules("/secret/../.env\n  ./dist//  \n");
    assert_eq!(r.patterns(), vec![".env", "dist"]);
    assert!(r.is_excluded(".env"));
    assert!(r.is_excluded("dist/app.js"));
    assert!(r.is_excluded("/dist/app.js"));
    assert!(!r.is_excluded("sub/.env"));
}

#[test]
fn character_classes_and_escapes() {
    let r = rules("[a-c]*.log\n\\*literal\n");
    assert!(r.is_excluded("b1.log"));
    assert!(!r.is_excluded("d1.log"));
    assert!(r.is_excluded("*literal"));
    assert!(!r.is_excluded("xliteral"));
    assert_eq!(IgnoreRules::parse("a\n[z\n").unwrap_err().line, 2);
}

#[test]
fn copy_source_wildcards() {
    use aurora_containerfile::pattern_matches;
    assert!(pattern_matches("*.txt", "a.txt"));
    assert!(pattern_matches("file?.[ch]", "file1.c"));
    assert!(!pattern_matches("file?.[ch]", "file1.o"));
    assert!(!pattern_matches("[", "["));
    assert!(pattern_matches("\\[", "["));
}
