//! Config-file templates (pond.json `config_files`), rendered in two passes.
//! Here, on the client, minijinja fills in the non-secret values from
//! pond.json; a secret — `{{ secrets.db_password }}`, or an app secret set
//! with `pond secret` such as `{{ secrets.APP_KEY }}` — becomes a
//! placeholder token that the server replaces with the value it keeps in a
//! file of the environment, so secrets never travel to the client.

use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::config::{Database, Environment, ProjectFile};

/// The placeholder the server replaces with the database password.
pub const DB_PASSWORD_TOKEN: &str = "@@POND_SECRET_DB_PASSWORD@@";

/// The placeholder the server replaces with the app secret `name`.
pub fn secret_token(name: &str) -> String {
    format!("@@POND_SECRET:{name}@@")
}

/// `secrets` in a template: `db_password`, or any name `pond secret`
/// accepts (another name is undefined, hence an error).
#[derive(Debug)]
struct Secrets;

impl minijinja::value::Object for Secrets {
    fn get_value(self: &std::sync::Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        let name = key.as_str()?;
        if name == "db_password" {
            return Some(DB_PASSWORD_TOKEN.into());
        }
        crate::config::grammar::secret_name(name).ok()?;
        Some(secret_token(name).into())
    }
}

/// Renders every config-file template: (target path in the release, text).
pub fn render_all(
    file: &ProjectFile,
    env: &Environment,
    project_root: &Path,
) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = vec![];
    for (i, c) in file.config_files.iter().enumerate() {
        let path = project_root.join(&c.template);
        let source = std::fs::read_to_string(&path)
            .with_context(|| format!("config_files[{i}]: reading {}", path.display()))?;
        let text = render(&source, file, env)
            .with_context(|| format!("config_files[{i}]: rendering {}", c.template))?;
        out.push((c.target.clone(), text.into_bytes()));
    }
    Ok(out)
}

/// Renders one template with the environment's values.
pub fn render(source: &str, file: &ProjectFile, env: &Environment) -> anyhow::Result<String> {
    let mut jinja = minijinja::Environment::new();
    jinja.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    jinja.set_keep_trailing_newline(true);
    jinja.add_template("config", source)?;
    let database = match &env.database {
        Database::None => json!(null),
        Database::SameDroplet { name, user } => {
            json!({"name": name, "user": user, "host": "localhost", "port": 3306})
        }
        Database::OtherDroplet {
            name,
            user,
            droplet,
        } => {
            let host = env
                .droplets
                .iter()
                .find(|d| &d.name == droplet)
                .and_then(|d| d.private_address.clone().or(d.address.clone()))
                .unwrap_or_default();
            json!({"name": name, "user": user, "host": host, "port": 3306})
        }
        Database::External {
            host,
            port,
            name,
            user,
        } => json!({"name": name, "user": user, "host": host, "port": port}),
    };
    let context = json!({
        "project": file.name,
        "environment": env.name,
        "domain": env.domain,
        "url": format!("http://{}", env.domain),
        "stack": file.stack.as_str(),
        "database": database,
    });
    let context = minijinja::context! {
        secrets => minijinja::Value::from_object(Secrets),
        ..minijinja::Value::from_serialize(&context)
    };
    Ok(jinja.get_template("config")?.render(context)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> ProjectFile {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/acme-shop/pond.json"
        ))
        .unwrap();
        crate::config::parse(&text).unwrap()
    }

    #[test]
    fn fills_values_and_leaves_secrets_to_the_server() {
        let file = example();
        let env = &file.environments[0];
        let text = render(
            "APP_URL={{ url }}\nDB_DATABASE={{ database.name }}\nDB_PASSWORD={{ secrets.db_password }}\n",
            &file,
            env,
        )
        .unwrap();
        assert_eq!(
            text,
            format!(
                "APP_URL=http://shop.example.com\nDB_DATABASE=acme_shop_production\nDB_PASSWORD={DB_PASSWORD_TOKEN}\n"
            )
        );
    }

    #[test]
    fn app_secrets_become_placeholders_and_bad_names_are_errors() {
        let file = example();
        let env = &file.environments[0];
        let text = render("APP_KEY=base64:{{ secrets.APP_KEY }}\n", &file, env).unwrap();
        assert_eq!(text, "APP_KEY=base64:@@POND_SECRET:APP_KEY@@\n");
        let err = render("X={{ secrets.app_key }}", &file, env).unwrap_err();
        assert!(format!("{err:#}").contains("undefined"), "{err:#}");
    }

    #[test]
    fn unknown_names_are_errors_not_empty_strings() {
        let file = example();
        let err = render("X={{ databse.name }}", &file, &file.environments[0]).unwrap_err();
        assert!(format!("{err:#}").contains("undefined"), "{err:#}");
    }
}
