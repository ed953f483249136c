//! The plans a swap, a rollback and a pointing run, built from what each
//! web server reported ([`ServerRead`]) without touching a server: one
//! `common/swap` or `common/point` operation per web server, each carrying
//! the releases the client saw so the server refuses under its lock when
//! something changed in between. [`super::swap`], [`super::rollback`] and
//! [`super::point_inactive`] run these very operations; [`swap_plan`] and
//! [`rollback_plan`] are what their dry runs and the app show.

use anyhow::bail;

use super::{ServerRead, read_servers, rollback_target, same_release_everywhere};
use crate::config::{Colour, Environment, ProjectFile};
use crate::plan::{Operation, Plan};
use crate::tasks::state::log_line;
use crate::tasks::{Connected, actor, env_root};

/// Why a colour goes live: the log's operation, whether checks were
/// skipped, and the database snapshot taken before it (a swap's).
pub(super) struct Going<'a> {
    pub(super) op: &'a str,
    pub(super) forced: bool,
    pub(super) snapshot: Option<&'a str>,
}

impl Going<'_> {
    pub(super) fn rollback(forced: bool) -> Going<'static> {
        Going {
            op: "rollback",
            forced,
            snapshot: None,
        }
    }
}

/// One server's swap: from which colour, expecting which releases, and
/// the state it leaves.
struct Change {
    from: Colour,
    expect_live_release: String,
    expect_release: String,
    state: String,
}

/// The swaps that make the inactive colour live on every web server, one
/// operation per server in the order they run (as `snaps` lists them),
/// each checking under the server's lock the releases the snapshot saw.
/// Pure. What a swap or rollback runs to go live, and what their dry runs
/// show; not in it: swapping back the servers already done when one
/// fails ([`swap_back_operation`]), and, once live, the processes,
/// schedule and scheduled backups following the new release and the next
/// deploy's copy starting.
pub(super) fn go_live_plan(
    file: &ProjectFile,
    env: &Environment,
    snaps: &[ServerRead],
    going: &Going<'_>,
) -> anyhow::Result<Plan> {
    let hooks = crate::config::hook_lines(&file.hooks.post_swap);
    let mut operations = vec![];
    for snap in snaps {
        let live = snap.live;
        let change = Change {
            from: live,
            expect_live_release: snap.release(live),
            expect_release: snap.release(live.other()),
            state: {
                let mut next = snap.status.state.after_swap(live.other());
                next.snapshot = going.snapshot.map(str::to_string);
                next.to_json()
            },
        };
        operations.push(swap_operation(
            file,
            env,
            snap,
            &change,
            going.op,
            going.forced,
            &hooks,
        )?);
    }
    let next = snaps
        .first()
        .map(|s| s.live.other().as_str())
        .unwrap_or("?");
    Ok(Plan {
        title: format!("{} {}: {next} goes live", going.op, env.name),
        operations,
    })
}

/// Undoing the swap [`go_live_plan`] planned for `snap`'s server, once it
/// went through there and another server's failed: its colours back as the
/// snapshot saw them, forced, without post-swap hooks. Pure.
pub(super) fn swap_back_operation(
    file: &ProjectFile,
    env: &Environment,
    snap: &ServerRead,
) -> anyhow::Result<Operation> {
    let back = Change {
        from: snap.live.other(),
        expect_live_release: snap.release(snap.live.other()),
        expect_release: snap.release(snap.live),
        state: snap.status.state.to_json(),
    };
    swap_operation(file, env, snap, &back, "swap-back", true, "")
}

/// One server's `common/swap`, as an operation.
fn swap_operation(
    file: &ProjectFile,
    env: &Environment,
    snap: &ServerRead,
    change: &Change,
    op: &str,
    forced: bool,
    hooks: &str,
) -> anyhow::Result<Operation> {
    let users = crate::plan::layout::EnvUsers::of(&file.name, &env.name);
    let next = change.from.other();
    let log = log_line(
        op,
        &actor(),
        serde_json::json!({"from": change.from, "to": next, "release": change.expect_release, "forced": forced}),
    );
    crate::tasks::execute::script(
        format!(
            "Make {} live (release {})",
            next.as_str(),
            change.expect_release
        ),
        &snap.endpoint,
        "common/swap",
        &[
            ("ROOT", &env_root(&file.name, &env.name)),
            ("EXPECT_LIVE", change.from.as_str()),
            ("EXPECT_LIVE_RELEASE", &change.expect_live_release),
            ("EXPECT_RELEASE", &change.expect_release),
            ("STATE", &change.state),
            ("LOG_LINE", &log),
            ("HOOKS", hooks),
            (
                "UNITS",
                &crate::tasks::processes::unit_prefix(&file.name, &env.name),
            ),
            ("SITE_USER", &users.site),
            ("DEPLOY_USER", &users.deploy),
        ],
    )
}

/// Pointing every web server's inactive colour at `release`, one
/// operation per server, with the servers as it leaves them; refused
/// (nothing planned) unless every server keeps that release. Pure.
pub(super) fn point_plan(
    file: &ProjectFile,
    env: &Environment,
    snaps: &[ServerRead],
    release: &str,
) -> anyhow::Result<(Plan, Vec<ServerRead>)> {
    let root = env_root(&file.name, &env.name);
    let inactive = snaps[0].live.other();
    let by = actor();
    // Every server must have it before any is changed.
    for snap in snaps {
        if !snap.status.releases_on_disk.iter().any(|r| r == release) {
            bail!(
                "release {release} is not kept on {}; nothing was changed. `pond releases {}` lists what is",
                snap.name,
                env.name
            );
        }
    }
    let mut operations = vec![];
    let mut after = vec![];
    for snap in snaps {
        let state = &snap.status.state;
        let record = state.releases.iter().rev().find(|r| r.id == release);
        let mut next = state.clone();
        next.colours.insert(
            inactive,
            crate::tasks::state::ColourState {
                release: release.to_string(),
                tag: record.map(|r| r.tag.clone()).unwrap_or_default(),
                at: record.map(|r| r.at.clone()).unwrap_or_default(),
                by: record.map(|r| r.by.clone()).unwrap_or_default(),
            },
        );
        let log = log_line(
            "point",
            &by,
            serde_json::json!({"colour": inactive, "release": release}),
        );
        operations.push(crate::tasks::execute::script(
            format!("Point {} at release {release}", inactive.as_str()),
            &snap.endpoint,
            "common/point",
            &[
                ("ROOT", &root),
                ("COLOUR", inactive.as_str()),
                ("RELEASE", release),
                ("EXPECT_RELEASE", &snap.release(inactive)),
                ("STATE", &next.to_json()),
                ("LOG_LINE", &log),
            ],
        )?);
        let mut pointed = snap.clone();
        pointed.status.state = next;
        pointed
            .status
            .links
            .retain(|(colour, _)| colour != inactive.as_str());
        pointed
            .status
            .links
            .push((inactive.as_str().to_string(), format!("releases/{release}")));
        after.push(pointed);
    }
    let plan = Plan {
        title: format!("point {} of {} at {release}", inactive.as_str(), env.name),
        operations,
    };
    Ok((plan, after))
}

/// What [`super::swap`] would run now, refused as it would be when the servers'
/// inactive colours hold different releases (unless `force`). The health
/// check and the pre-swap hooks (with their database snapshot, whose id
/// the real plan records) come before it and are not part of it.
pub async fn swap_plan(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    force: bool,
) -> anyhow::Result<Plan> {
    let snaps = read_servers(file, env, connected).await?;
    if !force {
        same_release_everywhere(&snaps, snaps[0].live.other())?;
    }
    let going = Going {
        op: "swap",
        forced: force,
        snapshot: None,
    };
    go_live_plan(file, env, &snaps, &going)
}

/// What a rollback would run now — to `to` (`rollback --to`), else to the
/// release live before the last swap (with `with_data`, its database
/// restore follows; it is not in the plan), refused as [`super::rollback`] would be:
/// when the inactive colour holds another release, pointing it back
/// first; then, after the health check, the swap, built from the servers
/// as the pointing leaves them.
pub async fn rollback_plan(
    file: &ProjectFile,
    env: &Environment,
    connected: &[Connected],
    to: Option<&str>,
    force: bool,
    with_data: bool,
) -> anyhow::Result<Vec<Plan>> {
    let snaps = read_servers(file, env, connected).await?;
    let release = match to {
        Some(release) => release.to_string(),
        None => {
            // Refused as `rollback` refuses: servers recording different
            // snapshots, or --with-data without one.
            crate::tasks::rollback_data::data_to_restore(file, env, connected, &snaps, with_data)
                .await?;
            rollback_target(env, &snaps)?
        }
    };
    let inactive = snaps[0].live.other();
    let mut plans = vec![];
    // A plain rollback uses the inactive colour as it is when it holds the
    // release; `--to` always points it (as `rollback_to` does).
    let in_place = to.is_none() && snaps.iter().all(|s| s.release(inactive) == release);
    let snaps = if in_place {
        snaps
    } else {
        let (point, after) = point_plan(file, env, &snaps, &release)?;
        plans.push(point);
        after
    };
    plans.push(go_live_plan(file, env, &snaps, &Going::rollback(force))?);
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Action;
    use crate::tasks::operate::ServerStatus;
    use crate::tasks::state::{ColourState, ServerState};

    const V1: &str = "20261201T100000Z-v1";
    const V2: &str = "20261202T100000Z-v2";
    const V0: &str = "20261130T100000Z-v0";

    /// A web server on which `live` runs v2 and the other colour v1, v0
    /// still kept.
    fn server(name: &str, live: Colour) -> ServerRead {
        let colour = |release: &str| ColourState {
            release: release.into(),
            tag: release.rsplit('-').next().unwrap().into(),
            at: "2026-12-02T10:00:00Z".into(),
            by: "ana@laptop".into(),
        };
        let state = ServerState {
            live: Some(live),
            colours: [(live, colour(V2)), (live.other(), colour(V1))].into(),
            previous: Some(V1.into()),
            ..Default::default()
        };
        ServerRead {
            name: name.into(),
            endpoint: crate::ssh::session::Endpoint {
                name: name.into(),
                address: "203.0.113.5".into(),
                port: 22,
                user: "root".into(),
            },
            live,
            status: ServerStatus {
                server: name.into(),
                live: Some(live),
                links: vec![
                    (live.as_str().into(), format!("releases/{V2}")),
                    (live.other().as_str().into(), format!("releases/{V1}")),
                ],
                releases_on_disk: vec![V0.into(), V1.into(), V2.into()],
                state,
                ..Default::default()
            },
        }
    }

    fn inputs(op: &Operation) -> std::collections::BTreeMap<String, String> {
        match &op.action {
            Action::Script { script, .. } => script.inputs.iter().cloned().collect(),
            other => panic!("{other:?}"),
        }
    }

    fn project() -> (ProjectFile, Environment) {
        let file: ProjectFile =
            serde_json::from_str(include_str!("../../../examples/acme-shop/pond.json")).unwrap();
        let env = file.environments[0].clone();
        (file, env)
    }

    #[test]
    fn a_swap_plan_swaps_each_server_expecting_what_it_read() {
        let (file, env) = project();
        let snaps = [server("web-1", Colour::Blue), server("web-2", Colour::Blue)];
        let going = Going {
            op: "swap",
            forced: false,
            snapshot: Some("snap-1"),
        };
        let plan = go_live_plan(&file, &env, &snaps, &going).unwrap();
        assert_eq!(plan.title, format!("swap {}: green goes live", env.name));
        assert_eq!(plan.operations.len(), 2);
        for (op, name) in plan.operations.iter().zip(["web-1", "web-2"]) {
            assert_eq!(op.description, format!("Make green live (release {V1})"));
            assert_eq!(
                op.target,
                crate::plan::Target::Droplet {
                    name: name.into(),
                    address: Some("203.0.113.5".into())
                }
            );
            let i = inputs(op);
            assert_eq!(i["EXPECT_LIVE"], "blue");
            assert_eq!(i["EXPECT_LIVE_RELEASE"], V2);
            assert_eq!(i["EXPECT_RELEASE"], V1);
            let state: ServerState = serde_json::from_str(&i["STATE"]).unwrap();
            assert_eq!(state.live, Some(Colour::Green));
            assert_eq!(
                state.previous.as_deref(),
                Some(V2),
                "a rollback returns to v2"
            );
            assert_eq!(state.snapshot.as_deref(), Some("snap-1"));
            assert!(i["LOG_LINE"].contains("\"op\":\"swap\""));
        }
        // Undoing it where it went through: back from green, expecting
        // the releases the swap left, restoring the state it read.
        let back = inputs(&swap_back_operation(&file, &env, &snaps[0]).unwrap());
        assert_eq!(back["EXPECT_LIVE"], "green");
        assert_eq!(back["EXPECT_LIVE_RELEASE"], V1);
        assert_eq!(back["EXPECT_RELEASE"], V2);
        assert_eq!(back["HOOKS"], "");
        assert_eq!(back["STATE"], snaps[0].status.state.to_json());
        assert!(
            back["LOG_LINE"].contains("\"op\":\"swap-back\"")
                && back["LOG_LINE"].contains("\"forced\":true")
        );
    }

    #[test]
    fn a_rollback_to_an_older_release_points_the_inactive_colour_then_swaps_to_it() {
        let (file, env) = project();
        let snaps = [server("web-1", Colour::Green)];
        assert!(
            point_plan(&file, &env, &snaps, "20261101T100000Z-gone").is_err(),
            "a release no server keeps is refused"
        );
        let (point, after) = point_plan(&file, &env, &snaps, V0).unwrap();
        assert_eq!(point.operations.len(), 1);
        assert_eq!(
            point.operations[0].description,
            format!("Point blue at release {V0}")
        );
        let i = inputs(&point.operations[0]);
        assert_eq!(i["COLOUR"], "blue");
        assert_eq!(i["RELEASE"], V0);
        assert_eq!(
            i["EXPECT_RELEASE"], V1,
            "checked under the lock: blue still holds v1"
        );
        // The swap that follows is built from the servers as the point
        // leaves them: blue holds v0 now.
        assert_eq!(after[0].release(Colour::Blue), V0);
        let swap = go_live_plan(&file, &env, &after, &Going::rollback(false)).unwrap();
        let i = inputs(&swap.operations[0]);
        assert_eq!(i["EXPECT_LIVE"], "green");
        assert_eq!(i["EXPECT_RELEASE"], V0);
        let state: ServerState = serde_json::from_str(&i["STATE"]).unwrap();
        assert_eq!(state.colours[&Colour::Blue].release, V0);
        assert_eq!(state.live, Some(Colour::Blue));
        assert_eq!(rollback_target(&env, &snaps).unwrap(), V1);
    }
}
