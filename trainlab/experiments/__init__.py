"""The experiments layer: loops over ordinary runs. compare (arms across seeds, with statistics),
ensembles, search (Optuna), and the lecture claims (claims/), started by one worker pool (`pool`)
and shown by one progress display (`progress`); every analysis is read back from run folders.

Layer: above training (each run is `trainlab.train`); below the public API and the command line.
"""
