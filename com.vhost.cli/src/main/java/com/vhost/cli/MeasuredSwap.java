package com.vhost.cli;

import com.vhost.api.VhostBackend;

/** A running device that can be moved to another backend, with the pause of each move measured. */
interface MeasuredSwap {
    /** Moves the device to {@code newBackend} (owned from now on); the application's handle stays valid. */
    void rebind(VhostBackend newBackend) throws Exception;

    /** @return swaps whose pause has been measured (first completion on the new backend seen) */
    long pausesMeasured();

    /** @return the last swap's pause in nanoseconds (last completion on the old backend to the first on the new), -1 when none */
    long lastPauseNanos();
}
