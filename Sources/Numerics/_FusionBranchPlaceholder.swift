// Placeholder so the fusion branch builds before the lead commits Numerics; delete on merge.
