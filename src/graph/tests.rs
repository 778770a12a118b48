//! Tests of the service graph: construction errors, selection and order.

use pretty_assertions::assert_eq;

use super::{
    Condition, CycleEdge, Dependency, EdgeKind, GraphError, Note, ServiceGraph, ServiceNode,
    SkipReason,
};

/// A service with `depends_on` entries (required, `service_started`).
fn svc(name: &str, deps: &[&str]) -> ServiceNode {
    ServiceNode {
        name: name.to_owned(),
        profiles: Vec::new(),
        dependencies: deps
            .iter()
            .map(|d| Dependency::new(*d, EdgeKind::DependsOn))
            .collect(),
    }
}

/// A service in `profiles`.
fn profiled(name: &str, profiles: &[&str], deps: &[&str]) -> ServiceNode {
    ServiceNode {
        profiles: strings(profiles),
        ..svc(name, deps)
    }
}

fn optional(service: &str) -> Dependency {
    Dependency {
        required: false,
        ..Dependency::new(service, EdgeKind::DependsOn)
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn graph(services: Vec<ServiceNode>) -> ServiceGraph {
    match ServiceGraph::new(services) {
        Ok(g) => g,
        Err(e) => panic!("graph should build: {e}"),
    }
}

fn build_err(services: Vec<ServiceNode>) -> GraphError {
    match ServiceGraph::new(services) {
        Ok(_) => panic!("graph should not build"),
        Err(e) => e,
    }
}

fn select_all(g: &ServiceGraph) -> super::Selection {
    g.select(&[], &[]).expect("select all")
}

#[test]
fn chain_starts_from_the_bottom_and_stops_from_the_top() {
    let g = graph(vec![
        svc("web", &["api"]),
        svc("api", &["db"]),
        svc("db", &[]),
    ]);
    let s = select_all(&g);
    assert_eq!(s.start_order(), ["db", "api", "web"]);
    assert_eq!(s.stop_order(), ["web", "api", "db"]);
    assert_eq!(s.levels(), vec![vec!["db"], vec!["api"], vec!["web"]]);
    assert_eq!(s.dependents("db"), ["api"]);
    assert_eq!(s.dependents("web"), Vec::<&str>::new());
}

#[test]
fn diamond_shares_its_base_and_keeps_file_order_within_a_level() {
    let g = graph(vec![
        svc("app", &["left", "right"]),
        svc("left", &["base"]),
        svc("right", &["base"]),
        svc("base", &[]),
    ]);
    let s = select_all(&g);
    assert_eq!(s.start_order(), ["base", "left", "right", "app"]);
    assert_eq!(s.stop_order(), ["app", "right", "left", "base"]);
    assert_eq!(
        s.levels(),
        vec![vec!["base"], vec!["left", "right"], vec!["app"]]
    );
    assert_eq!(s.dependents("base"), ["left", "right"]);
    let deps: Vec<&str> = s
        .dependencies("app")
        .iter()
        .map(|d| d.service.as_str())
        .collect();
    assert_eq!(deps, ["left", "right"]);
    assert_eq!(g.dependents("base"), ["left", "right"]);
}

#[test]
fn ties_are_broken_by_file_order() {
    // Independent services keep file order; a service waits only as long
    // as its own dependencies make it.
    let g = graph(vec![
        svc("zeta", &["mid"]),
        svc("alpha", &[]),
        svc("mid", &[]),
        svc("beta", &[]),
    ]);
    let s = select_all(&g);
    assert_eq!(s.start_order(), ["alpha", "mid", "zeta", "beta"]);
    assert_eq!(s.services(), ["zeta", "alpha", "mid", "beta"]);
    // The same input always gives the same order.
    for _ in 0..10 {
        assert_eq!(select_all(&g).start_order(), s.start_order());
    }
}

#[test]
fn one_dependency_declared_twice_is_one_edge_for_ordering() {
    let mut api = svc("api", &["db"]);
    api.dependencies.push(Dependency::new("db", EdgeKind::Link));
    let g = graph(vec![api, svc("db", &[])]);
    let s = select_all(&g);
    assert_eq!(s.start_order(), ["db", "api"]);
    assert_eq!(s.dependencies("api").len(), 2);
    assert_eq!(s.dependents("db"), ["api"]);
}

#[test]
fn self_dependency_is_a_cycle_of_one() {
    let err = build_err(vec![svc("service1", &["service1"])]);
    assert_eq!(
        err.to_string(),
        "dependency cycle detected: service1 -> service1"
    );
}

#[test]
fn cycle_of_two_prints_the_whole_path() {
    let err = build_err(vec![svc("b", &["a"]), svc("a", &["b"])]);
    assert_eq!(err.to_string(), "dependency cycle detected: a -> b -> a");
}

#[test]
fn cycle_of_three_prints_the_whole_path_with_edge_kinds() {
    let mut service2 = svc("service2", &[]);
    service2
        .dependencies
        .push(Dependency::new("service3", EdgeKind::NetworkMode));
    let err = build_err(vec![
        svc("service3", &["service1"]),
        service2,
        svc("service1", &["service2"]),
    ]);
    assert_eq!(
        err.to_string(),
        "dependency cycle detected: service1 -> service2 -> service3 -> service1"
    );
    let edge = |from: &str, to: &str, kind| CycleEdge {
        from: from.to_owned(),
        to: to.to_owned(),
        kind,
    };
    assert_eq!(
        err,
        GraphError::Cycle {
            path: strings(&["service1", "service2", "service3"]),
            edges: vec![
                edge("service1", "service2", EdgeKind::DependsOn),
                edge("service2", "service3", EdgeKind::NetworkMode),
                edge("service3", "service1", EdgeKind::DependsOn),
            ],
        }
    );
}

#[test]
fn cycle_message_does_not_depend_on_file_order() {
    let orders: [[(&str, &str); 3]; 3] = [
        [("c", "a"), ("b", "c"), ("a", "b")],
        [("a", "b"), ("c", "a"), ("b", "c")],
        [("b", "c"), ("a", "b"), ("c", "a")],
    ];
    for order in orders {
        let mut services: Vec<ServiceNode> = order.iter().map(|(s, d)| svc(s, &[d])).collect();
        // A service outside the cycle that points into it is not part of it.
        services.insert(0, svc("0-outside", &["b"]));
        let err = build_err(services);
        assert_eq!(
            err.to_string(),
            "dependency cycle detected: a -> b -> c -> a"
        );
    }
}

#[test]
fn of_two_cycles_the_one_with_the_smallest_name_is_reported() {
    let err = build_err(vec![
        svc("y", &["z"]),
        svc("z", &["y"]),
        svc("m", &["n"]),
        svc("n", &["m"]),
    ]);
    assert_eq!(err.to_string(), "dependency cycle detected: m -> n -> m");
}

#[test]
fn the_shortest_cycle_through_the_smallest_service_is_reported() {
    // a -> b -> c -> d -> a and a -> d -> a: both through a.
    let err = build_err(vec![
        svc("a", &["b", "d"]),
        svc("b", &["c"]),
        svc("c", &["d"]),
        svc("d", &["a"]),
    ]);
    assert_eq!(err.to_string(), "dependency cycle detected: a -> d -> a");
}

#[test]
fn undefined_dependency_suggests_a_close_name() {
    let err = build_err(vec![svc("api", &["dbb"]), svc("db", &[])]);
    assert_eq!(
        err.to_string(),
        "service \"api\" depends on undefined service \"dbb\"; did you mean \"db\"?"
    );
    assert!(matches!(
        err,
        GraphError::UndefinedDependency {
            kind: EdgeKind::DependsOn,
            ..
        }
    ));
}

#[test]
fn undefined_dependency_without_anything_close() {
    let err = build_err(vec![svc("api", &["postgres"]), svc("web", &[])]);
    assert_eq!(
        err.to_string(),
        "service \"api\" depends on undefined service \"postgres\""
    );
}

#[test]
fn duplicate_service_is_an_error() {
    let err = build_err(vec![svc("a", &[]), svc("a", &[])]);
    assert_eq!(err.to_string(), "service \"a\" is defined more than once");
}

#[test]
fn inactive_profile_is_excluded() {
    let g = graph(vec![
        svc("web", &[]),
        profiled("debug", &["debug"], &["web"]),
    ]);
    assert_eq!(select_all(&g).services(), ["web"]);
    let s = g.select(&[], &strings(&["debug"])).unwrap();
    assert_eq!(s.start_order(), ["web", "debug"]);
}

#[test]
fn star_activates_every_profile() {
    let g = graph(vec![
        profiled("a", &["one"], &[]),
        profiled("b", &["two"], &["a"]),
        svc("c", &[]),
    ]);
    let s = g.select(&[], &strings(&["*"])).unwrap();
    assert_eq!(s.services(), ["a", "b", "c"]);
    assert_eq!(s.start_order(), ["a", "b", "c"]);
}

#[test]
fn explicitly_named_service_is_included_despite_its_profile() {
    let g = graph(vec![
        svc("web", &[]),
        profiled("tool", &["tools"], &[]),
        profiled("other-tool", &["tools"], &[]),
    ]);
    let s = g.select(&strings(&["tool"]), &[]).unwrap();
    // Only the named service: others in the same profile are not named.
    assert_eq!(s.services(), ["tool"]);
    assert_eq!(s.requested(), ["tool"]);
    assert_eq!(s.active_profiles(), strings(&["tools"]));
}

#[test]
fn dependencies_of_a_named_service_are_pulled_in() {
    // docker compose docs: `up mock-backend` starts db too, because naming
    // mock-backend activates its profile "dev", which db shares.
    let g = graph(vec![
        svc("web", &[]),
        profiled("mock-backend", &["dev"], &["db", "cache"]),
        profiled("db", &["dev"], &[]),
        svc("cache", &[]),
    ]);
    let s = g.select(&strings(&["mock-backend"]), &[]).unwrap();
    assert_eq!(s.services(), ["mock-backend", "db", "cache"]);
    assert_eq!(s.start_order(), ["db", "cache", "mock-backend"]);
    assert!(!s.contains("web"));
}

#[test]
fn required_dependency_in_an_inactive_profile_is_an_error() {
    // docker compose docs: `up phpmyadmin` fails because "dev" is not
    // enabled; naming a service activates its own profiles only.
    let g = graph(vec![
        profiled("db", &["dev"], &[]),
        profiled("phpmyadmin", &["debug"], &["db"]),
    ]);
    let err = g.select(&strings(&["phpmyadmin"]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service \"db\" is required by \"phpmyadmin\" but is disabled: \
         its profile \"dev\" is not active"
    );
    let s = g
        .select(&strings(&["phpmyadmin"]), &strings(&["dev"]))
        .unwrap();
    assert_eq!(s.start_order(), ["db", "phpmyadmin"]);
}

#[test]
fn enabled_service_requiring_a_disabled_one_is_an_error_without_names_too() {
    let g = graph(vec![
        svc("web", &["db"]),
        profiled("db", &["dev", "test"], &[]),
    ]);
    let err = g.select(&[], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "service \"db\" is required by \"web\" but is disabled: \
         none of its profiles (\"dev\", \"test\") is active"
    );
}

#[test]
fn optional_dependency_in_an_inactive_profile_is_skipped_with_a_note() {
    let mut api = svc("api", &["db"]);
    api.dependencies.push(optional("metrics"));
    let g = graph(vec![
        api,
        svc("db", &[]),
        profiled("metrics", &["obs"], &[]),
    ]);
    let s = select_all(&g);
    assert_eq!(s.start_order(), ["db", "api"]);
    let deps: Vec<&str> = s
        .dependencies("api")
        .iter()
        .map(|d| d.service.as_str())
        .collect();
    assert_eq!(deps, ["db"]);
    assert_eq!(
        s.notes(),
        [Note {
            service: "api".to_owned(),
            dependency: "metrics".to_owned(),
            kind: EdgeKind::DependsOn,
            reason: SkipReason::ProfileInactive {
                profiles: strings(&["obs"]),
            },
        }]
    );
    assert_eq!(
        s.notes()[0].to_string(),
        "api: optional dependency \"metrics\" is not running \
         (profile \"obs\" is not active); skipping it"
    );

    // With the profile active it is a dependency like any other.
    let s = g.select(&[], &strings(&["obs"])).unwrap();
    assert_eq!(s.start_order(), ["db", "metrics", "api"]);
    assert!(s.notes().is_empty());
    // Named, the optional dependency is followed only if enabled.
    let s = g.select(&strings(&["api"]), &[]).unwrap();
    assert_eq!(s.services(), ["api", "db"]);
    assert_eq!(s.notes().len(), 1);
}

#[test]
fn optional_dependency_on_an_undefined_service_is_skipped_with_a_note() {
    let mut api = svc("api", &[]);
    api.dependencies.push(optional("metrics"));
    let g = graph(vec![api]);
    let s = select_all(&g);
    assert_eq!(s.services(), ["api"]);
    assert!(s.dependencies("api").is_empty());
    assert_eq!(g.dependencies("api").len(), 1);
    assert_eq!(
        s.notes()[0].to_string(),
        "api: optional dependency \"metrics\" is not defined; skipping it"
    );
    assert_eq!(s.notes()[0].reason, SkipReason::Undefined);
}

#[test]
fn unknown_requested_service_suggests_a_close_name() {
    let g = graph(vec![svc("web", &[]), svc("worker", &[])]);
    let err = g.select(&strings(&["wbe"]), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no such service: \"wbe\"; did you mean \"web\"?"
    );
    let err = g.select_no_deps(&strings(&["zzz"]), &[]).unwrap_err();
    assert_eq!(err.to_string(), "no such service: \"zzz\"");
}

#[test]
fn no_deps_selects_only_the_named_services() {
    let g = graph(vec![
        svc("web", &["api"]),
        svc("api", &["db"]),
        profiled("db", &["data"], &[]),
    ]);
    let s = g.select_no_deps(&strings(&["api"]), &[]).unwrap();
    assert_eq!(s.services(), ["api"]);
    assert!(s.dependencies("api").is_empty());
    // A disabled dependency is not an error: it is not going to start.
    assert!(s.notes().is_empty());

    let s = g.select_no_deps(&strings(&["web", "api"]), &[]).unwrap();
    assert_eq!(s.start_order(), ["api", "web"]);
    assert_eq!(s.dependents("api"), ["web"]);
    assert_eq!(s.dependencies("web").len(), 1);
}

#[test]
fn named_services_are_deduplicated_and_keep_request_order() {
    let g = graph(vec![svc("a", &[]), svc("b", &["a"]), svc("c", &[])]);
    let s = g.select(&strings(&["c", "b", "c"]), &[]).unwrap();
    assert_eq!(s.requested(), ["c", "b"]);
    assert_eq!(s.services(), ["a", "b", "c"]);
    assert_eq!(s.start_order(), ["a", "b", "c"]);
    assert!(select_all(&g).requested().is_empty());
}

#[test]
fn contains_and_lookups_on_unselected_services() {
    let g = graph(vec![svc("web", &[]), profiled("tool", &["t"], &["web"])]);
    let s = select_all(&g);
    assert!(s.contains("web"));
    assert!(!s.contains("tool"));
    assert!(!s.contains("nope"));
    assert!(s.dependencies("tool").is_empty());
    assert!(s.dependents("nope").is_empty());
    assert_eq!(s.dependents("web"), Vec::<&str>::new());
    assert_eq!(g.dependents("web"), ["tool"]);
    assert!(g.contains("tool"));
    assert_eq!(g.len(), 2);
}

#[test]
fn dependency_data_is_carried_through() {
    let mut web = svc("web", &[]);
    web.dependencies.push(Dependency {
        service: "db".to_owned(),
        kind: EdgeKind::DependsOn,
        condition: Condition::ServiceHealthy,
        restart: true,
        required: true,
    });
    let g = graph(vec![web, svc("db", &[])]);
    let s = select_all(&g);
    let dep = &s.dependencies("web")[0];
    assert_eq!(dep.condition, Condition::ServiceHealthy);
    assert!(dep.restart);
    assert_eq!(dep.condition.to_string(), "service_healthy");
    assert_eq!(EdgeKind::VolumesFrom.to_string(), "volumes_from");
}

#[test]
fn empty_project_selects_nothing() {
    let g = graph(Vec::new());
    let s = select_all(&g);
    assert!(s.is_empty());
    assert!(s.start_order().is_empty());
    assert!(s.levels().is_empty());
}

/// A quick speed check, not a test: run with
/// `cargo test --release --lib graph::tests::speed -- --ignored --nocapture`.
#[test]
#[ignore = "prints timings; run by hand"]
fn speed() {
    use std::time::Instant;

    let n = 1000;
    let services: Vec<ServiceNode> = (0..n)
        .map(|i| {
            // Three dependencies on earlier services; every tenth service
            // is in an inactive profile, and dependencies on it optional.
            let mut node = svc(&format!("service-{i:04}"), &[]);
            for k in [7_usize, 13, 29] {
                if i > 0 {
                    // A pseudo-random earlier service, mostly a near one,
                    // so that chains are long.
                    let hash = (i * 2_654_435_761 + k * 40_503) >> 7;
                    let j = i - 1 - hash % i.min(40);
                    let mut dep = Dependency::new(format!("service-{j:04}"), EdgeKind::DependsOn);
                    dep.required = j % 10 != 0;
                    node.dependencies.push(dep);
                }
            }
            if i % 10 == 0 {
                node.profiles.push("extra".to_owned());
            }
            node
        })
        .collect();
    for round in 0..5 {
        let input = services.clone();
        let start = Instant::now();
        let g = graph(input);
        let built = start.elapsed();
        let s = g.select(&[], &[]).unwrap();
        let order = s.start_order();
        let levels = s.levels();
        let total = start.elapsed();
        let named = Instant::now();
        let one = g.select(&strings(&["service-0999"]), &[]).unwrap();
        let named = named.elapsed();
        println!(
            "round {round}: build {built:?}, build+select+order {total:?} \
             ({} services, {} levels, {} notes); select one {named:?} ({} services)",
            order.len(),
            levels.len(),
            s.notes().len(),
            one.len(),
        );
    }
}
