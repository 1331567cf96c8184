"""photo2anime: local photo and anime folders as a tensorflow-datasets dataset."""
