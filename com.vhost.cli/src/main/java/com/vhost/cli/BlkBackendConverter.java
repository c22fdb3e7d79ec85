package com.vhost.cli;

import com.vhost.api.VhostBackendType;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * {@code vhost blk --backend}: {@code user} or {@code vdpa}. The kernel's vhost back-end
 * ({@code /dev/vhost-net}) serves virtio-net only, so {@code kernel} is refused while parsing
 * (exit code 2) instead of failing after connecting.
 */
final class BlkBackendConverter implements ITypeConverter<String> {
    @Override
    public String convert(String value) {
        VhostBackendType t;
        try {
            t = VhostBackendType.fromId(value);
        } catch (IllegalArgumentException e) {
            throw new TypeConversionException("unknown vhost backend type '" + value + "': blk takes user or vdpa");
        }
        if (t == VhostBackendType.KERNEL) {
            throw new TypeConversionException("'" + value + "': the kernel's vhost back-end drives vhost-net only;"
                    + " blk takes user or vdpa");
        }
        return t.id();
    }
}
