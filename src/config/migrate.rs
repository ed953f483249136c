//! Upgrades older pond.json files to the current schema version.
//!
//! Each [`Migration`] turns a document of version `n` into version `n + 1`
//! as plain JSON, before the typed parse. Version 1 is the first released
//! format, so the table is empty today; a future format change appends one
//! function here and bumps [`super::CURRENT_SCHEMA_VERSION`].

use serde_json::Value;

use super::Problem;

/// Turns a version-`n` document into version `n + 1`.
pub type Migration = fn(Value) -> Result<Value, Problem>;

/// `MIGRATIONS[k]` upgrades version `k + 1` to `k + 2`. Empty while version 1
/// is the only format.
pub const MIGRATIONS: &[Migration] = &[];

/// Applies the migrations from `from` up to the end of `table`, setting
/// `schema_version` after each step.
pub fn migrate(mut value: Value, from: u32, table: &[Migration]) -> Result<Value, Vec<Problem>> {
    if from == 0 {
        return Err(vec![Problem::new(
            "schema_version",
            "0 is not a schema version; the first is 1",
        )]);
    }
    for (step, migration) in table.iter().enumerate().skip(from as usize - 1) {
        value = migration(value).map_err(|p| vec![p])?;
        value["schema_version"] = Value::from(step as u64 + 2);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rename_project_to_name(mut v: Value) -> Result<Value, Problem> {
        let obj = v
            .as_object_mut()
            .ok_or_else(|| Problem::new("(document)", "not an object"))?;
        let name = obj
            .remove("project")
            .ok_or_else(|| Problem::new("project", "is missing"))?;
        obj.insert("name".into(), name);
        Ok(v)
    }

    fn add_stack(mut v: Value) -> Result<Value, Problem> {
        v["stack"] = json!("php");
        Ok(v)
    }

    #[test]
    fn applies_each_step_from_the_files_version() {
        let table: &[Migration] = &[rename_project_to_name, add_stack];
        let v1 = json!({"schema_version": 1, "project": "acme"});
        let out = migrate(v1, 1, table).unwrap();
        assert_eq!(
            out,
            json!({"schema_version": 3, "name": "acme", "stack": "php"})
        );

        let v2 = json!({"schema_version": 2, "name": "acme"});
        let out = migrate(v2, 2, table).unwrap();
        assert_eq!(
            out,
            json!({"schema_version": 3, "name": "acme", "stack": "php"})
        );
    }

    #[test]
    fn a_failing_step_is_reported_with_its_path() {
        let table: &[Migration] = &[rename_project_to_name];
        let err = migrate(json!({"schema_version": 1}), 1, table).unwrap_err();
        assert_eq!(err, vec![Problem::new("project", "is missing")]);
    }
}
