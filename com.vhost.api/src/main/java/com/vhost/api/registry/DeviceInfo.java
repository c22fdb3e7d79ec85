package com.vhost.api.registry;

/**
 * A configured device as the registry sees it.
 *
 * @param id the device's configuration id (factory PID name)
 * @param deviceType short device type ("blk")
 * @param status BOUND, WAITING (no matching backend), FAILED
 * @param backendName the bound backend's name, or null
 * @param target socket or node path
 * @param detail summary of the running driver, or the error that stopped it
 */
public record DeviceInfo(String id, String deviceType, Status status, String backendName, String target, String detail) {
    /** Binding status. */
    public enum Status { BOUND, WAITING, FAILED }
}
