//! What an import keeps between its batches: the billing columns of the parties it has met and the periods it
//! has read around them, so that a batch reads only the parties it has not met. Each batch first asks the store
//! whether a party or a period was changed since the last batch ([`billing_changes`]); if one was, or where the
//! store cannot tell, everything kept is read again.

use std::collections::HashMap;

use classbill_domain::period::PeriodSchedule;
use classbill_store::Tx;
use classbill_store::billing_changes::{self, Mark};
use classbill_store::parties::PartyBilling;
use classbill_store::periods::PeriodRow;

use crate::error::EngineResult;

/// Parties kept at most, about 100 MiB with their periods: an import of a larger customer base starts over when
/// it has met this many, so that its memory stays bounded.
const MAX_PARTIES: usize = 150_000;

/// Held by the caller of a series of batches; a fresh one keeps nothing.
#[derive(Default)]
pub struct IngestMemo {
    /// Where the last batch left the store's billing writes, after its own; `None` before the first batch and
    /// after a failed one.
    sealed: Option<Mark>,
    /// Where the running batch found them.
    begun: Option<Mark>,
    pub(super) parties: HashMap<i64, PartyBilling>,
    /// The period schedules of the parties met, worked out from their billing columns when first needed.
    pub(super) schedules: HashMap<i64, PeriodSchedule>,
    pub(super) periods: HashMap<i64, KnownPeriods>,
}

/// The periods of one party read for a span of time.
pub(super) struct KnownPeriods {
    from_us: i64,
    to_us: i64,
    /// The party's periods that overlap the span, and its last one, by start.
    pub(super) rows: Vec<PeriodRow>,
}

impl KnownPeriods {
    pub(super) fn new(from_us: i64, to_us: i64, rows: Vec<PeriodRow>) -> Self {
        KnownPeriods { from_us, to_us, rows }
    }

    /// Whether the rows hold every period of the party that overlaps `[from_us, to_us]`: the span lies in the
    /// one they were read for, or starts in it while the party's last period started inside it too, so that
    /// every later period is among them.
    pub(super) fn covers(&self, from_us: i64, to_us: i64) -> bool {
        match self.rows.last() {
            // The party had no period at all.
            None => true,
            Some(last) => self.from_us <= from_us && (to_us <= self.to_us || last.start_at <= self.to_us),
        }
    }
}

impl IngestMemo {
    /// At the start of a batch, inside its transaction: what was kept stays only if nothing was written since the
    /// last batch sealed it and the memo is not full.
    pub(super) async fn begin(&mut self, tx: &mut Tx) -> EngineResult<()> {
        let (unchanged, begun) = billing_changes::since(tx, self.sealed.take().as_ref()).await?;
        if !unchanged || self.parties.len() > MAX_PARTIES {
            self.forget();
        }
        self.begun = Some(begun);
        Ok(())
    }

    /// At the end of a batch, after its writes and before its commit.
    pub(super) async fn seal(&mut self, tx: &mut Tx) -> EngineResult<()> {
        if let Some(begun) = self.begun.take() {
            self.sealed = Some(billing_changes::after_own_writes(tx, begun).await?);
        }
        Ok(())
    }

    /// Drops everything kept, after writes that were undone.
    pub(super) fn forget(&mut self) {
        self.sealed = None;
        self.parties.clear();
        self.schedules.clear();
        self.periods.clear();
    }
}
