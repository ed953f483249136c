//! `pond create --db droplet` and `--db host:ADDR`: the database on its own
//! server. A PHP app on one droplet reads rows (loaded from a dump) out of
//! MariaDB on a second droplet Pond created; a second environment puts its
//! database on that same server as an existing host, filled with a copy of
//! the first one's live data (`--db-from ssh://…`, dumped over SSH). Each web droplet made
//! its own password; the database server holds only its hash, grants it to
//! that web droplet's address alone and lets only that address through the
//! firewall; the password is in no client output or file; destroying the
//! second environment keeps the server it did not create.

mod common;

use common::create::{INDEX, assert_live, php_project_with_db, pond};
use common::lab::{LabDir, lab_up};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_database_lives_on_its_own_droplet_or_an_existing_host() {
    common::require_root();
    let lab = LabDir::new("pond-create-db-");
    let api = lab_up(&lab.0);
    let config = tempfile::tempdir().unwrap();
    let (project, dump) = php_project_with_db("shop", INDEX);
    let p = project.path();
    let mut outputs = vec![];
    let create = |env: &str, domain: &str, db: &str, data: &[&str]| {
        let mut args = vec![
            "create",
            env,
            "--account",
            "agency",
            "--domain",
            domain,
            "--image",
            "debian-13-x64",
            "--db",
            db,
        ];
        args.extend(data);
        pond(&args, p, config.path(), &api)
    };
    let dump_arg = dump.path().to_str().unwrap().to_string();

    // production: a new database droplet.
    let out = create(
        "production",
        "shop.example.com",
        "droplet",
        &["--db-dump", &dump_arg],
    );
    outputs.push(text(&out));
    assert_live(&out, "https://shop.example.com/");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let env = &file["environments"][0];
    assert_eq!(env["database"]["placement"], "other_droplet");
    assert_eq!(env["database"]["droplet"], "shop-production-db");
    let droplets = env["droplets"].as_array().unwrap();
    assert_eq!(droplets.len(), 2);
    assert_eq!(
        (&droplets[0]["role"], &droplets[1]["role"]),
        (&"web".into(), &"database".into())
    );
    assert!(droplets.iter().all(|d| d["id"].is_u64()));
    let tagged = api.ok(
        "GET",
        "/v2/droplets?tag_name=pond-shop-production",
        None,
        200,
    );
    assert_eq!(tagged["meta"]["total"], 2, "web and database droplets");
    let web = droplets[0]["address"].as_str().unwrap().to_string();
    let db = droplets[1]["address"].as_str().unwrap().to_string();
    let db_id = droplets[1]["id"].as_u64().unwrap();
    assert_eq!(
        common::browse(&web, "shop.example.com", "/", &api.ca_root).1,
        "db ok: gadget,widget",
        "the app on {web} reads the dump's rows from MariaDB on {db}"
    );

    let key = config.path().join("id_ed25519");
    let accounts = |user: &str| {
        common::ssh(
            &key,
            &db,
            &format!("mariadb -N -e \"SELECT Host FROM mysql.user WHERE User = '{user}'\""),
        )
    };
    assert_eq!(
        accounts("shop_production").trim(),
        web,
        "granted to the web droplet only"
    );
    assert_eq!(
        common::ssh(
            &key,
            &db,
            "ls /var/www/pond/projects/shop/production/config/db-password 2>/dev/null || echo absent"
        )
        .trim(),
        "absent",
        "the database server never holds the password, only its hash"
    );
    let password_file = "/var/www/pond/projects/shop/production/config/db-password";
    let password = common::ssh(&key, &web, &format!("cat {password_file}"));
    assert!(password.len() >= 32);
    // The firewall lets the web droplet, and only it, reach port 3306.
    let set = common::ssh(&key, &db, "nft list set inet filter pond_db_clients");
    assert!(set.contains(&web), "{set}");
    let from_here = std::net::TcpStream::connect_timeout(
        &format!("{db}:3306").parse().unwrap(),
        std::time::Duration::from_secs(2),
    );
    assert!(
        from_here.is_err(),
        "3306 on {db} answers a host that is not a web droplet"
    );

    // staging: the same server as an existing database host, with a copy
    // of production's live data (dumped over SSH, streamed, no file).
    common::ssh(
        &key,
        &db,
        "mariadb shop_production -e \"INSERT INTO items VALUES ('sprocket')\"",
    );
    let source = format!("ssh://root@{db}/shop_production");
    let out = create(
        "staging",
        "staging.shop.example.com",
        &format!("host:{db}"),
        &["--db-from", &source],
    );
    outputs.push(text(&out));
    assert_live(&out, "https://staging.shop.example.com/");
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p.join("pond.json")).unwrap()).unwrap();
    let staging = &file["environments"][1];
    assert_eq!(staging["database"]["name"], "shop_staging");
    let staging_web = staging["droplets"][0]["address"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(staging["droplets"][1]["address"], db.as_str());
    assert!(
        staging["droplets"][1]["id"].is_null(),
        "not created by Pond"
    );
    assert_eq!(
        common::browse(&staging_web, "staging.shop.example.com", "/", &api.ca_root).1,
        "db ok: gadget,sprocket,widget",
        "staging has production's rows as they were, not the dump's"
    );
    assert_eq!(accounts("shop_staging").trim(), staging_web);
    assert_eq!(
        common::browse(&web, "shop.example.com", "/", &api.ca_root).1,
        "db ok: gadget,sprocket,widget",
        "production keeps its database account"
    );

    // Destroying staging keeps the server it did not create.
    let out = pond(&["destroy", "staging", "--yes"], p, config.path(), &api);
    let said = text(&out);
    outputs.push(said.clone());
    assert!(out.status.success(), "{said}");
    assert!(said.contains("keep shop-staging-db"), "{said}");
    api.ok("GET", &format!("/v2/droplets/{db_id}"), None, 200);
    assert_eq!(
        common::browse(&web, "shop.example.com", "/", &api.ca_root).1,
        "db ok: gadget,sprocket,widget"
    );

    // The password never reached the client.
    let pond_json = std::fs::read_to_string(p.join("pond.json")).unwrap();
    for (what, text) in outputs
        .iter()
        .map(|o| ("output", o.as_str()))
        .chain([("pond.json", pond_json.as_str())])
    {
        assert!(!text.contains(password.trim()), "DB password in {what}");
    }
}
