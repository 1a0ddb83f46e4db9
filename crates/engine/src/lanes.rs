//! Lanes of a bulk job: as many copies of one loop as the backend takes write transactions at once
//! (`Store::writers`), each claiming its own batches from a cursor they share.

use std::future::Future;

use crate::error::EngineResult;

impl crate::Engine {
    /// Runs `lane` once per writer the backend takes, side by side, until every copy has returned; the first error
    /// ends the job.
    pub(crate) async fn in_lanes<F, L>(&self, lane: L) -> EngineResult<()>
    where
        L: Fn() -> F,
        F: Future<Output = EngineResult<()>>,
    {
        let second = async { if self.store.writers() > 1 { lane().await } else { Ok(()) } };
        tokio::try_join!(lane(), second)?;
        Ok(())
    }
}
