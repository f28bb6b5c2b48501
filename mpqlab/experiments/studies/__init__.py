"""One-off studies: experiments that call the library and are not part of it (the radius study behind Fig. 4)."""
