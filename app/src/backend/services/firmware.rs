//! Firmware drift: each type's components counted against its baseline, the servers
//! behind a number, one server's components, and setting a baseline (by hand or by
//! adopting the most common versions), audited.

use super::{Actor, ServiceError};
use crate::backend::Backend;
use crate::backend::store::{self, events::NewEvent, now_ms};
use crate::domain::firmware::{
    ComponentDrift, ComponentVersion, Drift, ServerComponent, TypeFirmware, check_baseline_entry, drift,
};
use crate::domain::{EventKind, Permission};
use crate::model::UserView;

impl Backend {
    /// The drift of every type's components (or of one type), types by label.
    pub async fn firmware_drift(&self, type_label: Option<&str>) -> Result<Vec<TypeFirmware>, ServiceError> {
        let mut conn = self.db.conn().await?;
        if let Some(label) = type_label {
            type_id(&mut conn, label).await?;
        }
        let counts = store::firmware::version_counts(&mut conn, type_label).await?;
        let baselines = store::firmware::baselines(&mut conn, type_label).await?;
        let mut out: Vec<TypeFirmware> = Vec::new();
        // Rows come by type and component: gather each component's versions.
        let mut i = 0;
        while i < counts.len() {
            let (label, component, name) = (&counts[i].0, &counts[i].1, &counts[i].2);
            let mut seen = Vec::new();
            let mut j = i;
            while j < counts.len() && counts[j].0 == *label && counts[j].1 == *component {
                seen.push((counts[j].3.clone(), counts[j].4));
                j += 1;
            }
            let baseline = baselines.iter().find(|b| b.0 == *label && b.1 == *component).map(|b| b.2.clone());
            let c = ComponentDrift::count(component.clone(), name.clone(), baseline, &seen);
            type_entry(&mut out, label).components.push(c);
            i = j;
        }
        // Baseline entries no server reports (yet).
        for (label, component, version) in &baselines {
            let t = type_entry(&mut out, label);
            if !t.components.iter().any(|c| c.component == *component) {
                let c = ComponentDrift::count(component.clone(), component.clone(), Some(version.clone()), &[]);
                t.components.push(c);
            }
        }
        out.sort_by(|a, b| a.server_type.cmp(&b.server_type));
        if let Some(label) = type_label
            && out.is_empty()
        {
            out.push(TypeFirmware { server_type: label.to_string(), components: Vec::new() });
        }
        Ok(out)
    }

    /// The servers of a type with each component's version against the baseline,
    /// optionally one component and one drift (the servers behind a number).
    pub async fn firmware_servers(
        &self,
        type_label: &str,
        component: Option<&str>,
        only: Option<Drift>,
    ) -> Result<Vec<ServerComponent>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let type_id = type_id(&mut conn, type_label).await?;
        let baselines = store::firmware::baselines(&mut conn, Some(type_label)).await?;
        let rows = store::firmware::of_type(&mut conn, type_id).await?;
        Ok(rows
            .into_iter()
            .filter(|r| component.is_none_or(|c| c == r.2))
            .map(|(server_id, server, component, version)| {
                let baseline = baselines.iter().find(|b| b.1 == component).map(|b| b.2.clone());
                let drift = drift(&version, baseline.as_deref());
                ServerComponent { server_id, server, component, version, baseline, drift }
            })
            .filter(|r| only.is_none_or(|d| d == r.drift))
            .collect())
    }

    /// One server's components against its type's baseline.
    pub async fn server_firmware(
        &self,
        server_id: i64,
        type_label: Option<&str>,
    ) -> Result<Vec<ComponentVersion>, ServiceError> {
        let mut conn = self.db.conn().await?;
        let baselines = match type_label {
            Some(label) => store::firmware::baselines(&mut conn, Some(label)).await?,
            None => Vec::new(),
        };
        Ok(store::firmware::of_server(&mut conn, server_id)
            .await?
            .into_iter()
            .map(|(component, name, version)| {
                let baseline = baselines.iter().find(|b| b.1 == component).map(|b| b.2.clone());
                let drift = drift(&version, baseline.as_deref());
                ComponentVersion { component, name, version, baseline, drift }
            })
            .collect())
    }

    /// Replaces a type's baseline (component -> version); audited. Components no server
    /// of the type reports are allowed (a baseline may come before the servers).
    pub async fn set_firmware_baseline(
        &self,
        caller: &UserView,
        type_label: &str,
        entries: Vec<(String, String)>,
    ) -> Result<TypeFirmware, ServiceError> {
        if !caller.role.can(Permission::ManageFirmwareBaselines) {
            return Err(ServiceError::Forbidden {
                message: format!("your role ({}) may not set firmware baselines", caller.role),
            });
        }
        let mut clean: Vec<(String, String)> = Vec::new();
        for (component, version) in entries {
            let (component, version) = (component.trim().to_string(), version.trim().to_string());
            if version.is_empty() {
                continue; // an emptied field: no baseline for that component
            }
            check_baseline_entry(&component, &version).map_err(|m| ServiceError::invalid("baseline", m))?;
            if clean.iter().any(|(c, _)| *c == component) {
                return Err(ServiceError::invalid("baseline", format!("{component} is listed twice")));
            }
            clean.push((component, version));
        }
        if clean.len() > 500 {
            return Err(ServiceError::invalid("baseline", "at most 500 components"));
        }
        let now = now_ms();
        let (who, label) = (Actor::user(caller.username.clone()).audit_name(), type_label.to_string());
        self.write(move |tx| {
            Box::pin(async move {
                let type_id = type_id(tx, &label).await?;
                store::firmware::set_baseline(tx, type_id, &clean, &who, now).await?;
                let details: Vec<String> = clean.iter().map(|(c, v)| format!("{c}={v}")).collect();
                let details = details.join(", ");
                let event = NewEvent {
                    to_value: Some(&label),
                    details: Some(&details),
                    ..NewEvent::fleet(&who, EventKind::FirmwareBaselineSet)
                };
                store::events::append(tx, &event, now).await?;
                Ok(())
            })
        })
        .await?;
        Ok(self.firmware_drift(Some(type_label)).await?.remove(0))
    }

    /// Sets a type's baseline to the version most of its servers run, per component.
    pub async fn adopt_common_firmware(
        &self,
        caller: &UserView,
        type_label: &str,
    ) -> Result<TypeFirmware, ServiceError> {
        let current = self.firmware_drift(Some(type_label)).await?;
        let entries = current
            .first()
            .map(|t| {
                t.components
                    .iter()
                    .filter_map(|c| c.most_common().map(|v| (c.component.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        self.set_firmware_baseline(caller, type_label, entries).await
    }
}

/// The type's id, or "not found".
async fn type_id(conn: &mut sqlx::AnyConnection, label: &str) -> Result<i64, ServiceError> {
    store::server_types::id_by_label(conn, label)
        .await?
        .ok_or_else(|| ServiceError::NotFound { what: format!("server type {label}") })
}

/// The entry of `label` in `out`, added when missing.
fn type_entry<'a>(out: &'a mut Vec<TypeFirmware>, label: &str) -> &'a mut TypeFirmware {
    match out.iter().position(|t| t.server_type == label) {
        Some(i) => &mut out[i],
        None => {
            out.push(TypeFirmware { server_type: label.to_string(), components: Vec::new() });
            out.last_mut().expect("just pushed")
        }
    }
}
