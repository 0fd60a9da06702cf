//! Druid's basic security as the tests configure it, in one place for every crate's tests.

/// Druid's basic security with `admin` / `admin_password` and the internal client
/// `druid_system` / `internal_password`, as properties (one `key=value` a line).
pub fn basic_security_properties(admin_password: &str, internal_password: &str) -> String {
    format!(
        "druid.auth.authenticatorChain=[\"basic\"]\n\
         druid.auth.authenticator.basic.type=basic\n\
         druid.auth.authenticator.basic.initialAdminPassword={admin_password}\n\
         druid.auth.authenticator.basic.initialInternalClientPassword={internal_password}\n\
         druid.auth.authenticator.basic.authorizerName=basic\n\
         druid.auth.authorizers=[\"basic\"]\n\
         druid.auth.authorizer.basic.type=basic\n\
         druid.escalator.type=basic\n\
         druid.escalator.internalClientUsername=druid_system\n\
         druid.escalator.internalClientPassword={internal_password}\n\
         druid.escalator.authorizerName=basic\n"
    )
}
