"""The papers' theory experiments: unrolled Laplacian Eigenmaps (probdr) and MSSA's SNR growth (snr)."""
