//! Rules, batching and actions, without an engine or on the scripted
//! [`FakeEngine`], under tokio's paused clock where time matters.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::plan::{self, Change, SyncOp, next_batch};
use super::rules::Trigger;
use super::{WatchError, apply, triggers};
use crate::build::ignore::IgnoreRules;
use crate::engine::fake::{FakeEngine, Op};
use crate::model::types::{WatchAction, WatchRule};
use crate::model::{LoadedProject, ProjectOptions, load};
use crate::orchestrator::events::{Collect, Event, WatchEvent};
use crate::orchestrator::up::{UpOptions, up};

fn rule(path: &str, action: WatchAction, target: Option<&str>) -> WatchRule {
    WatchRule {
        path: path.to_owned(),
        action,
        target: target.map(str::to_owned),
        ignore: Vec::new(),
        include: Vec::new(),
        initial_sync: false,
        exec: None,
    }
}

fn trigger(rule: &WatchRule) -> Trigger {
    Trigger::new("app", rule, Path::new("/p"), None).expect("valid rule")
}

#[test]
fn a_rule_matches_paths_under_it_minus_ignored_editor_and_never_watched_ones() {
    let mut r = rule("./src", WatchAction::Sync, Some("/app"));
    r.ignore = vec!["build/".into(), "*.log".into()];
    let t = trigger(&r);
    assert!(t.matches(Path::new("/p/src/a/b.js")));
    assert!(t.matches(Path::new("/p/src/x.log.txt")));
    assert!(
        !t.matches(Path::new("/p/src/x.log")),
        "ignore patterns are relative to the path"
    );
    assert!(
        t.matches(Path::new("/p/src/a/x.log")),
        "`*.log` is only at the top, as in .dockerignore"
    );
    assert!(!t.matches(Path::new("/p/src/build/out.js")));
    assert!(!t.matches(Path::new("/p/other/a.js")));
    assert!(!t.matches(Path::new("/p/srcx/a.js")));
    for noise in [".a.js.swp", "a.js~", "4913", ".#a.js", "#a.js#"] {
        assert!(!t.matches(&Path::new("/p/src").join(noise)), "{noise}");
    }
    assert!(!t.matches(Path::new("/p/src/node_modules/m/index.js")));
    assert!(!t.matches(Path::new("/p/src/.git/HEAD")));
    assert!(t.prunes_dir(Path::new("/p/src/build")));
    assert!(t.prunes_dir(Path::new("/p/src/node_modules")));
    assert!(!t.prunes_dir(Path::new("/p/src/a")));
    assert!(
        !t.prunes_dir(Path::new("/p")),
        "an ancestor of the path is walked"
    );
    assert!(t.prunes_dir(Path::new("/p/other")));
}

#[test]
fn include_patterns_keep_only_what_they_match() {
    let mut r = rule("src", WatchAction::Sync, Some("/app"));
    r.include = vec!["*.css".into(), "pages/**/*.html".into()];
    let t = trigger(&r);
    assert!(t.matches(Path::new("/p/src/site.css")));
    assert!(
        t.matches(Path::new("/p/src/deep/site.css")),
        "a file name pattern matches anywhere"
    );
    assert!(t.matches(Path::new("/p/src/pages/a/b.html")));
    assert!(!t.matches(Path::new("/p/src/b.html")));
    assert!(!t.matches(Path::new("/p/src/app.js")));
}

#[test]
fn a_rebuild_rule_honours_the_build_context_dockerignore() {
    let r = rule("web", WatchAction::Rebuild, None);
    let rules = IgnoreRules::parse("*.md\ntmp/\n").expect("rules");
    let t = Trigger::new(
        "web",
        &r,
        Path::new("/p"),
        Some((PathBuf::from("/p/web"), rules)),
    )
    .expect("rule");
    assert!(t.matches(Path::new("/p/web/index.js")));
    assert!(!t.matches(Path::new("/p/web/README.md")));
    assert!(!t.matches(Path::new("/p/web/tmp/x")));
    assert!(t.prunes_dir(Path::new("/p/web/tmp")));
}

#[test]
fn an_invalid_pattern_names_the_service_and_rule() {
    let mut r = rule("src", WatchAction::Sync, Some("/app"));
    r.include = vec!["[".into()];
    let err = Trigger::new("app", &r, Path::new("/p"), None).unwrap_err();
    assert!(matches!(err, WatchError::Pattern { ref service, .. } if service == "app"));
    assert!(
        err.to_string()
            .starts_with("cannot watch service app: invalid pattern in the rule for src")
    );
}

#[test]
fn the_inotify_limit_error_names_the_limit_and_how_to_raise_it() {
    let err = WatchError::from_notify(
        notify::Error::new(notify::ErrorKind::MaxFilesWatch),
        Some(Path::new("/p/src")),
    );
    let text = err.to_string();
    assert!(text.contains("fs.inotify.max_user_watches"), "{text}");
    assert!(text.contains("sysctl"), "{text}");
    assert!(text.starts_with("cannot watch /p/src"), "{text}");
}

#[test]
fn a_batch_is_one_plan_per_service_and_rebuild_supersedes_sync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/a")).expect("mkdir");
    std::fs::write(root.join("src/a/x.js"), "x").expect("write");
    std::fs::write(root.join("src/y.js"), "y").expect("write");
    let sync = Trigger::new(
        "api",
        &rule("src", WatchAction::Sync, Some("/app/")),
        root,
        None,
    )
    .expect("rule");
    let mut exec_rule = rule("src", WatchAction::SyncExec, Some("/srv"));
    exec_rule.exec = Some(crate::model::types::ServiceHook {
        command: crate::model::types::Command(vec!["reload".into()]),
        user: None,
        privileged: false,
        working_dir: None,
        environment: indexmap::IndexMap::new(),
    });
    let exec = Trigger::new("worker", &exec_rule, root, None).expect("rule");
    let rebuild_sync = Trigger::new(
        "web",
        &rule("src", WatchAction::Sync, Some("/w")),
        root,
        None,
    )
    .expect("rule");
    let rebuild = Trigger::new(
        "web",
        &rule("src/a", WatchAction::Rebuild, None),
        root,
        None,
    )
    .expect("rule");
    let batch: BTreeSet<PathBuf> = [
        root.join("src/a/x.js"),
        root.join("src/y.js"),
        root.join("src/gone.js"),
    ]
    .into();
    let plans = plan::plan(&[sync, exec, rebuild_sync, rebuild], &batch);
    let services: Vec<&str> = plans.iter().map(|p| p.service.as_str()).collect();
    assert_eq!(services, ["api", "web", "worker"]);
    assert_eq!(
        plans[0].sync,
        SyncOp {
            copy: vec![
                (root.join("src/a/x.js"), "/app/a/x.js".into()),
                (root.join("src/y.js"), "/app/y.js".into()),
            ],
            delete: vec!["/app/gone.js".into()],
        }
    );
    assert!(!plans[0].restart && plans[0].exec.is_empty());
    assert!(
        plans[1].rebuild && plans[1].sync.is_empty(),
        "{:?}",
        plans[1]
    );
    assert_eq!(plans[2].sync.len(), 3);
    assert_eq!(plans[2].exec.len(), 1);
}

#[test]
fn a_new_directory_syncs_every_file_in_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("src/new/deep")).expect("mkdir");
    std::fs::create_dir_all(root.join("src/new/node_modules")).expect("mkdir");
    std::fs::write(root.join("src/new/deep/a"), "a").expect("write");
    std::fs::write(root.join("src/new/node_modules/b"), "b").expect("write");
    let t = Trigger::new(
        "api",
        &rule("src", WatchAction::Sync, Some("/app")),
        root,
        None,
    )
    .expect("rule");
    let plans = plan::plan(&[t], &[root.join("src/new")].into());
    assert_eq!(
        plans[0].sync.copy,
        [(root.join("src/new/deep/a"), "/app/new/deep/a".to_owned())]
    );
}

#[tokio::test(start_paused = true)]
async fn changes_within_the_quiet_period_are_one_batch_and_later_ones_are_kept() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = tokio::spawn(async move {
        for i in 0..5 {
            tx.send(Change::to(format!("/f{i}"))).expect("send");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        tx.send(Change::to("/late")).expect("send");
        // Sent while nobody reads: waits for the next batch.
        tx.send(Change::to("/queued")).expect("send");
    });
    let quiet = Duration::from_millis(30);
    let first = next_batch(&mut rx, quiet, Duration::from_secs(10))
        .await
        .expect("batch");
    assert_eq!(first.len(), 5, "{first:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let second = next_batch(&mut rx, quiet, Duration::from_secs(10))
        .await
        .expect("batch");
    assert_eq!(
        second,
        [PathBuf::from("/late"), PathBuf::from("/queued")].into()
    );
    sender.await.expect("sender");
    assert_eq!(
        next_batch(&mut rx, quiet, Duration::from_secs(10)).await,
        None
    );
}

#[tokio::test]
async fn a_file_created_and_gone_within_a_batch_is_left_out() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("index.html"), "saved").expect("write");
    let (tx, mut rx) = mpsc::unbounded_channel();
    for change in [
        // An atomic save: a temporary file written, then renamed over.
        Change::created(path("index.html.tmp1234")),
        Change::to(path("index.html.tmp1234")),
        Change::to(path("index.html")),
        // A file that was there and is gone: its delete must go out.
        Change::to(path("removed.txt")),
        // Gone, then made again and gone again: it was there before.
        Change::to(path("again.txt")),
        Change::created(path("again.txt")),
        // Made and still there.
        Change::created(path("index.html")),
    ] {
        tx.send(change).expect("send");
    }
    drop(tx);
    let batch = next_batch(&mut rx, Duration::from_millis(30), Duration::from_secs(10))
        .await
        .expect("batch");
    assert_eq!(
        batch,
        [path("again.txt"), path("index.html"), path("removed.txt")].into()
    );
}

#[tokio::test(start_paused = true)]
async fn a_steady_stream_still_gives_a_batch_after_the_longest_wait() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _sender = tokio::spawn(async move {
        for i in 0.. {
            if tx.send(Change::to(format!("/f{i}"))).is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let batch = next_batch(
        &mut rx,
        Duration::from_millis(30),
        Duration::from_millis(100),
    )
    .await
    .expect("batch");
    assert!((10..=12).contains(&batch.len()), "{}", batch.len());
}

fn fake_project(dir: &Path, yaml: &str) -> LoadedProject {
    std::fs::write(dir.join("compose.yaml"), yaml).expect("write");
    let options = ProjectOptions {
        project_name: Some("watchfake".into()),
        ..ProjectOptions::in_dir(dir)
    };
    load(&options).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(start_paused = true)]
async fn sync_uploads_one_archive_deletes_with_rm_and_restarts_on_the_fake_engine() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src/a")).expect("mkdir");
    std::fs::write(dir.path().join("src/a/x.txt"), "new x").expect("write");
    let loaded = fake_project(
        dir.path(),
        "services:\n  app:\n    image: img\n    develop:\n      watch:\n        \
         - {path: ./src, target: /app, action: sync+restart}\n",
    );
    let engine = FakeEngine::new();
    engine.add_image("img");
    let shared: Arc<dyn crate::engine::Engine> = Arc::new(engine.clone());
    up(
        shared.clone(),
        &loaded,
        &UpOptions::default(),
        Arc::new(crate::orchestrator::events::Silent),
    )
    .await
    .expect("up");
    let collect = Arc::new(Collect::default());
    let found = triggers(&loaded, &[], &*collect).expect("triggers");
    let batch = [
        dir.path().join("src/a/x.txt"),
        dir.path().join("src/a/gone.txt"),
    ]
    .into();
    let plans = plan::plan(&found, &batch);
    assert_eq!(plans.len(), 1);
    apply(&*shared, &loaded.name, &plans[0], &*collect).await;
    assert_eq!(
        engine.file_in("watchfake-app-1", "/app/a/x.txt").as_deref(),
        Some(&b"new x"[..])
    );
    assert_eq!(engine.calls_of(Op::UploadArchive).len(), 1);
    let execs: Vec<String> = engine
        .calls_of(Op::Exec)
        .iter()
        .map(|c| c.object.clone())
        .collect();
    assert_eq!(
        execs,
        ["watchfake-app-1"],
        "the delete runs rm in the container"
    );
    assert_eq!(engine.calls_of(Op::StopContainer).len(), 1);
    let events = collect.events();
    assert!(
        events.contains(&Event::Watch(WatchEvent::Restarted {
            service: "app".into(),
            because: None,
        })),
        "{events:#?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
        Event::Watch(WatchEvent::Synced { service, files: 2, .. }) if service == "app")),
        "{events:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bind_mounted_sync_path_is_left_alone_and_said_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("src")).expect("mkdir");
    let loaded = fake_project(
        dir.path(),
        "services:\n  app:\n    image: img\n    volumes: ['./src:/app']\n    develop:\n      watch:\n        \
         - {path: ./src/static, target: /app/static, action: sync}\n        \
         - {path: ./other, target: /o, action: sync}\n",
    );
    let collect = Collect::default();
    let found = triggers(&loaded, &[], &collect).expect("triggers");
    assert_eq!(found.len(), 1);
    assert!(found[0].path.ends_with("other"));
    let notes: Vec<Event> = collect.events();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        matches!(&notes[0], Event::Watch(WatchEvent::BindMounted { service, .. }) if service == "app")
    );
}

#[test]
fn a_project_without_rules_cannot_be_watched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let loaded = fake_project(dir.path(), "services:\n  app:\n    image: img\n");
    let err = triggers(&loaded, &[], &crate::orchestrator::events::Silent).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot watch project watchfake: none of its services has develop.watch rules"
    );
}

#[test]
fn the_watcher_skips_ignored_gitignored_and_vendored_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    for d in [
        "src/a/b",
        "src/gen/x",
        "src/skip/y",
        "src/node_modules/z",
        "src/.git/o",
    ] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::write(root.join("src/.gitignore"), "gen/\n").expect("write");
    let mut r = rule("src", WatchAction::Sync, Some("/app"));
    r.ignore = vec!["skip".into()];
    let mut found = vec![Trigger::new("app", &r, root, None).expect("rule")];
    let dirs = super::watcher::prepare(&mut found);
    let expected: BTreeSet<PathBuf> = ["src", "src/a", "src/a/b"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    assert_eq!(dirs, expected);
    assert!(
        !found[0].matches(&root.join("src/gen/file")),
        "gitignored files are not synced"
    );
}
