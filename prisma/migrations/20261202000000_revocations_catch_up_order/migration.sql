-- The denylist catch-up reads recent revocations in pages ordered by (revoked_at, jti).
DROP INDEX "revocations_revoked_at_idx";

-- CreateIndex
CREATE INDEX "revocations_revoked_at_jti_idx" ON "revocations"("revoked_at", "jti");
