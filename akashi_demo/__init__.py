"""akashi-demo: the whole story, narrated (see __main__)."""
