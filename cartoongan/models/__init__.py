"""Network parts every family shares: layers, the discriminator, the photo path. The
generators live with their families (`cartoongan.families.<name>.generator`)."""
