package com.vhost.registry;

import java.util.Map;

/**
 * JMX view of one configured device ({@code com.vhost:type=Device,name=<id>}): status, backend
 * and the counters of {@link ManagedDevice#counters()}. A standard MBean interface; the counters
 * are read on each call.
 */
public interface DeviceStatsMBean {
    /** @return the device id */
    String getId();

    /** @return BOUND, WAITING or FAILED */
    String getStatus();

    /** @return the bound backend's name, or null */
    String getBackend();

    /** @return the socket or node path in use */
    String getTarget();

    /** @return the driver summary or the reason it is not running */
    String getDetail();

    /** @return requests completed with success through the application API */
    long getRequests();

    /** @return data bytes those requests moved */
    long getBytes();

    /** @return backend swaps of the running driver */
    long getSwaps();

    /** @return I/O pause of the last swap in microseconds (last completion on the old backend to the first on the new), -1 when none */
    long getLastPauseMicros();

    /** @return every counter by name */
    Map<String, Long> getCounters();
}
