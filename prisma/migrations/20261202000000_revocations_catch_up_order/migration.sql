-- The denylist catch-up reads recent revocations in pages ordered by (revoked_at, jti). The new
-- index is built before the old one is dropped: while it builds, reads of the table go on.

-- CreateIndex
CREATE INDEX "revocations_revoked_at_jti_idx" ON "revocations"("revoked_at", "jti");

-- DropIndex
DROP INDEX "revocations_revoked_at_idx";
