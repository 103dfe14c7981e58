"""Building blocks of the synthetic tampering generator: source photos, region shapes, tampering."""
