//! Writes: create, update (PUT), patch, delete and deletecollection.

use std::sync::Arc;

use http::StatusCode;
use protocol::meta::{DeleteOptions, Status, StatusCause, Time};
use serde_json::Value;

use super::negotiate::{self, BodyFormat};
use super::object::{carry_meta, meta_str, sent_resource_version, set_meta, set_type};
use super::read::filtered_list;
use super::response::{json_bytes_response, json_response, store_error};
use super::{AdmissionContext, Call, Operation, Writer, names, patch};
use crate::body::Body;

/// How often an unconditional update or a patch is retried when a concurrent write wins the
/// compare-and-swap (upstream's `GuaranteedUpdate` retries too).
const WRITE_ATTEMPTS: usize = 5;

/// Namespaces upstream refuses to delete.
const UNDELETABLE_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Call<'_> {
    /// `POST` to a collection.
    pub(super) async fn create(&self) -> Result<http::Response<Body>, Status> {
        let mut obj = negotiate::decode_object(self.def, self.headers, &self.body)?;
        self.set_namespace_from_path(&mut obj)?;
        let mut name = meta_str(&obj, "name").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").to_string();
            if prefix.is_empty() {
                return Err(self.invalid(
                    "",
                    vec![StatusCause::required(
                        "metadata.name",
                        "name or generateName is required",
                    )],
                ));
            }
            name = names::generate(&prefix);
            set_meta(&mut obj, "name", Some(Value::String(name.clone())))?;
        }
        let causes = names::validate(self.def.name_rule, &name, "metadata.name");
        if !causes.is_empty() {
            return Err(self.invalid(&name, causes));
        }
        self.require_namespace().await?;

        set_type(&mut obj, &self.def.api_version(), self.def.kind)?;
        for cleared in [
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "selfLink",
            "managedFields",
        ] {
            set_meta(&mut obj, cleared, None)?;
        }
        set_meta(&mut obj, "uid", Some(Value::String(names::new_uid())))?;
        let now = serde_json::to_value(Time::now()).map_err(Status::internal_error)?;
        set_meta(&mut obj, "creationTimestamp", Some(now))?;

        let strategy = &self.def.strategy;
        strategy.prepare_create(&mut obj, self.user)?;
        strategy.admit_mutating(&self.writer(Operation::Create), &mut obj, None)?;
        strategy.validate_create(&obj)?;
        strategy.admit(&self.admission(Operation::Create, &name, &obj, None))?;

        if self.dry_run() {
            return Ok(json_response(StatusCode::CREATED, &obj));
        }
        // Last, so only a create that would be stored counts (one that finds its name taken
        // counts too: a retry loop is what the limit is for).
        if let (Some(limit), Some(key)) = (
            self.api.create_limit.get(),
            strategy.create_rate_key(&obj, self.user),
        ) {
            limit.check(&key)?;
        }
        let stored = self
            .store()
            .create(&self.key(&name), obj)
            .await
            .map_err(|e| store_error(self.def, &name, e))?;
        Ok(json_bytes_response(
            StatusCode::CREATED,
            stored.json.to_vec(),
        ))
    }

    /// `POST` of an access review or a SelfSubjectReview: answered, not stored.
    pub(super) async fn create_review(&self) -> Result<http::Response<Body>, Status> {
        // Decoded even when unused, so a malformed body is a 400 as upstream's decoder makes it.
        let obj = negotiate::decode_object(self.def, self.headers, &self.body)?;
        let answer = match self.def.group {
            protocol::authentication::v1::GROUP => super::authentication::create_review(
                self.def.plural,
                &obj,
                self.user,
                self.api.tokens.get().map(Arc::as_ref),
            ),
            _ => super::authorization::create_review(
                self.def.plural,
                &obj,
                self.user,
                self.api.authorizer.as_ref(),
            ),
        }
        .ok_or_else(Status::path_not_found)??;
        Ok(json_response(StatusCode::CREATED, &answer))
    }

    /// `PUT` of an object or a subresource.
    pub(super) async fn update(&self) -> Result<http::Response<Body>, Status> {
        let mut obj = negotiate::decode_object(self.def, self.headers, &self.body)?;
        let name = self.info.name.as_str();
        match meta_str(&obj, "name") {
            "" => set_meta(&mut obj, "name", Some(Value::String(name.to_string())))?,
            sent if sent != name => {
                return Err(Status::bad_request(format!(
                    "the name of the object ({sent}) does not match the name on the URL ({name})"
                )));
            }
            _ => {}
        }
        self.set_namespace_from_path(&mut obj)?;
        let precondition = sent_resource_version(&obj)?;
        let sent_uid = meta_str(&obj, "uid").to_string();
        self.write_loop(precondition, |old| {
            // A uid in the body is a precondition too (the object may have been re-created).
            let stored_uid = meta_str(old, "uid");
            if !sent_uid.is_empty() && sent_uid != stored_uid {
                let mut status = Status::conflict(self.def.group, self.def.plural, name);
                status.message = format!(
                    "Operation cannot be fulfilled on {} {name:?}: Precondition failed: UID in \
                     precondition: {sent_uid}, UID in object meta: {stored_uid}",
                    self.qualified_resource()
                );
                return Err(status);
            }
            Ok(obj.clone())
        })
        .await
    }

    /// `PATCH` of an object or a subresource.
    pub(super) async fn patch(&self) -> Result<http::Response<Body>, Status> {
        let format = negotiate::body_format(self.headers)?;
        if !matches!(
            format,
            BodyFormat::MergePatch | BodyFormat::StrategicMergePatch | BodyFormat::JsonPatch
        ) {
            return Err(Status::unsupported_media_type(
                self.headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            ));
        }
        // A resourceVersion inside the patch is a precondition on the object it applies to.
        self.write_loop(None, |old| {
            let patched = patch::apply(format, old, &self.body)?;
            if let Some(rv) = sent_resource_version(&patched)?
                && Some(rv) != sent_resource_version(old)?
            {
                return Err(Status::conflict(
                    self.def.group,
                    self.def.plural,
                    &self.info.name,
                ));
            }
            let mut normalized = self.def.normalize(&patched)?;
            // Identity comes from the URL, whatever the patch says.
            set_meta(
                &mut normalized,
                "name",
                Some(Value::String(self.info.name.clone())),
            )?;
            self.set_namespace_from_path(&mut normalized)?;
            Ok(normalized)
        })
        .await
    }

    /// Read, compute the new object from the stored one, and compare-and-swap; retried when
    /// another writer wins unless the client pinned `precondition` (then 409).
    async fn write_loop(
        &self,
        precondition: Option<u64>,
        compute: impl Fn(&Value) -> Result<Value, Status>,
    ) -> Result<http::Response<Body>, Status> {
        let name = self.info.name.as_str();
        let key = self.key(name);
        for _ in 0..WRITE_ATTEMPTS {
            let old = self
                .store()
                .get(&key)
                .await
                .map_err(|e| store_error(self.def, name, e))?;
            if precondition.is_some_and(|rv| rv != old.rv) {
                return Err(Status::conflict(self.def.group, self.def.plural, name));
            }
            let mut new = compute(&old.object)?;
            self.prepare_update(&mut new, &old.object)?;
            if self.dry_run() {
                set_meta(
                    &mut new,
                    "resourceVersion",
                    Some(Value::String(old.rv.to_string())),
                )?;
                return Ok(json_response(StatusCode::OK, &new));
            }
            match self.store().update(&key, new, Some(old.rv)).await {
                Ok(stored) => return Ok(json_bytes_response(StatusCode::OK, stored.json.to_vec())),
                Err(store::StoreError::Conflict { .. }) if precondition.is_none() => continue,
                Err(e) => return Err(store_error(self.def, name, e)),
            }
        }
        Err(Status::conflict(self.def.group, self.def.plural, name))
    }

    /// The generic half of an update (server-owned metadata from the stored object), then the
    /// kind's strategy and admission.
    fn prepare_update(&self, new: &mut Value, old: &Value) -> Result<(), Status> {
        let subresource = self.info.subresource.as_str();
        set_type(new, &self.def.api_version(), self.def.kind)?;
        set_meta(new, "resourceVersion", None)?;
        for owned in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "generateName",
            "selfLink",
        ] {
            carry_meta(new, old, owned)?;
        }
        if !subresource.is_empty() {
            // Upstream's ResetObjectMetaForStatus: subresources do not change object metadata.
            for kept in ["labels", "annotations", "finalizers", "ownerReferences"] {
                carry_meta(new, old, kept)?;
            }
        }
        let strategy = &self.def.strategy;
        strategy.prepare_update(subresource, new, old)?;
        strategy.admit_mutating(&self.writer(Operation::Update), new, Some(old))?;
        strategy.validate_update(subresource, new, old)?;
        strategy.admit(&self.admission(Operation::Update, &self.info.name, new, Some(old)))
    }

    /// `DELETE` of one object: 200 with its last state.
    pub(super) async fn delete(&self) -> Result<http::Response<Body>, Status> {
        let options = negotiate::decode_delete_options(self.headers, &self.body)?;
        let name = self.info.name.as_str();
        if self.def.plural == "namespaces" && UNDELETABLE_NAMESPACES.contains(&name) {
            return Err(Status::forbidden(
                "",
                "namespaces",
                name,
                format!("namespaces {name:?} is forbidden: this namespace may not be deleted"),
            ));
        }
        let key = self.key(name);
        let old = self
            .store()
            .get(&key)
            .await
            .map_err(|e| store_error(self.def, name, e))?;
        self.check_preconditions(options.as_ref(), &old.object, old.rv)?;
        self.def.strategy.admit(&self.admission(
            Operation::Delete,
            name,
            &old.object,
            Some(&old.object),
        ))?;
        if self.dry_run() {
            return Ok(json_response(StatusCode::OK, old.object.as_ref()));
        }
        let deleted = self
            .store()
            .delete(&key, Some(old.rv))
            .await
            .map_err(|e| store_error(self.def, name, e))?;
        Ok(json_bytes_response(StatusCode::OK, deleted.json.to_vec()))
    }

    fn check_preconditions(
        &self,
        options: Option<&DeleteOptions>,
        object: &Value,
        rv: u64,
    ) -> Result<(), Status> {
        let Some(pre) = options.and_then(|o| o.preconditions.as_ref()) else {
            return Ok(());
        };
        let subject = self.qualified_resource();
        let name = &self.info.name;
        let failed = |detail: String| {
            let mut status = Status::conflict(self.def.group, self.def.plural, name);
            status.message =
                format!("Operation cannot be fulfilled on {subject} {name:?}: {detail}");
            status
        };
        if let Some(uid) = pre.uid.as_deref().filter(|u| !u.is_empty()) {
            let actual = meta_str(object, "uid");
            if uid != actual {
                return Err(failed(format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {actual}"
                )));
            }
        }
        if let Some(wanted) = pre.resource_version.as_deref().filter(|r| !r.is_empty())
            && wanted != rv.to_string()
        {
            return Err(failed(format!(
                "the ResourceVersion in the precondition ({wanted}) does not match the \
                 ResourceVersion in record ({rv}). The object might have been modified"
            )));
        }
        Ok(())
    }

    /// `DELETE` of a collection (selectors apply): 200 with the list of deleted objects.
    pub(super) async fn delete_collection(&self) -> Result<http::Response<Body>, Status> {
        let options = negotiate::decode_delete_options(self.headers, &self.body)?;
        let (items, _rv) = filtered_list(self).await?;
        let mut deleted = Vec::with_capacity(items.len());
        for item in items {
            let name = meta_str(&item.object, "name").to_string();
            let key = store::Key::new(
                self.def.store_resource(),
                meta_str(&item.object, "namespace"),
                name.as_str(),
            );
            if self
                .check_preconditions(options.as_ref(), &item.object, item.rv)
                .is_err()
            {
                continue;
            }
            self.def.strategy.admit(&self.admission(
                Operation::Delete,
                &name,
                &item.object,
                Some(&item.object),
            ))?;
            match self.store().delete(&key, Some(item.rv)).await {
                Ok(stored) => deleted.push(stored.object.as_ref().clone()),
                // Changed or gone since the list: upstream skips such items too.
                Err(store::StoreError::NotFound(_) | store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(store_error(self.def, &name, e)),
            }
        }
        let rv = self
            .store()
            .current_revision()
            .await
            .map_err(|e| store_error(self.def, "", e))?;
        let list = serde_json::json!({
            "kind": self.def.list_kind,
            "apiVersion": self.def.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": deleted,
        });
        Ok(json_response(StatusCode::OK, &list))
    }

    /// `?dryRun=All` (`kubectl --dry-run=server`): everything but the store write.
    fn dry_run(&self) -> bool {
        self.query.is_some_and(|q| {
            url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "dryRun" && v == "All")
        })
    }

    /// Puts the URL's namespace into the object; a different one in the body is a 400.
    fn set_namespace_from_path(&self, obj: &mut Value) -> Result<(), Status> {
        if !self.def.namespaced {
            return set_meta(obj, "namespace", None);
        }
        let path_ns = self.info.namespace.as_str();
        let body_ns = meta_str(obj, "namespace");
        if !body_ns.is_empty() && body_ns != path_ns {
            return Err(Status::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        set_meta(obj, "namespace", Some(Value::String(path_ns.to_string())))
    }

    /// Namespaced creates need their namespace to exist (404 `namespaces "x" not found`).
    async fn require_namespace(&self) -> Result<(), Status> {
        if !self.def.namespaced {
            return Ok(());
        }
        let ns = self.info.namespace.as_str();
        let key = store::Key::new("core/namespaces", "", ns);
        match self.store().get(&key).await {
            Ok(_) => Ok(()),
            Err(store::StoreError::NotFound(_) | store::StoreError::InvalidKey(_)) => {
                Err(Status::not_found("", "namespaces", ns))
            }
            Err(e) => Err(Status::internal_error(e)),
        }
    }

    /// `plural.group` (just `plural` for the core group), as upstream messages name resources.
    fn qualified_resource(&self) -> String {
        if self.def.group.is_empty() {
            self.def.plural.to_string()
        } else {
            format!("{}.{}", self.def.plural, self.def.group)
        }
    }

    fn invalid(&self, name: &str, causes: Vec<StatusCause>) -> Status {
        Status::invalid(self.def.group, self.def.kind, name, causes)
    }

    fn writer(&self, operation: Operation) -> Writer<'_> {
        Writer {
            operation,
            subresource: &self.info.subresource,
            user: self.user,
            client_certificate_issuer: self.client_certificate_issuer.as_deref(),
        }
    }

    fn admission<'a>(
        &'a self,
        operation: Operation,
        name: &'a str,
        object: &'a Value,
        old_object: Option<&'a Value>,
    ) -> AdmissionContext<'a> {
        AdmissionContext {
            operation,
            subresource: &self.info.subresource,
            namespace: self.namespace(),
            name,
            user: self.user,
            object,
            old_object,
            authorizer: self.api.authorizer.as_ref(),
            rule_resolver: self.api.rule_resolver(),
        }
    }
}
