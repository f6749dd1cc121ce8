//! Reading erase certificates: each cleaning's evidence, kept for good (also after a
//! server is removed from the rack). They are written by the agent service when a
//! cleaning's erase report passes judgement.

use super::ServiceError;
use crate::backend::Backend;
use crate::backend::store;
use crate::domain::erase::EraseCertificate;

impl Backend {
    /// A server's erase certificates, newest first.
    pub async fn erase_certificates(&self, server_id: i64) -> Result<Vec<EraseCertificate>, ServiceError> {
        let mut conn = self.db.conn().await?;
        store::servers::get(&mut conn, server_id).await?.ok_or_else(|| super::lifecycle::not_found(server_id))?;
        Ok(store::erase_certificates::for_server(&mut conn, server_id).await?)
    }

    /// One erase certificate of a server.
    pub async fn erase_certificate(&self, server_id: i64, id: i64) -> Result<EraseCertificate, ServiceError> {
        let mut conn = self.db.conn().await?;
        store::erase_certificates::get(&mut conn, server_id, id)
            .await?
            .ok_or_else(|| ServiceError::NotFound { what: format!("erase certificate {id} of server {server_id}") })
    }
}
