# Sourced by scripts: exports JAVA_HOME and PATH for a JDK >= 25 (the project's release), or exits
# with a clear message. Prefers $JAVA_HOME, then Temurin 25, then any /usr/lib/jvm JDK.
_vhost_java_major() { "$1/bin/java" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p' | cut -d. -f1; }
_vhost_jdk=""
for _c in "${JAVA_HOME:-}" /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/*; do
  if [ -n "$_c" ] && [ -x "$_c/bin/javac" ] && [ "$(_vhost_java_major "$_c" 2>/dev/null || echo 0)" -ge 25 ] 2>/dev/null; then
    _vhost_jdk=$_c; break
  fi
done
if [ -z "$_vhost_jdk" ]; then
  echo "error: no JDK >= 25 found (JAVA_HOME=${JAVA_HOME:-unset}; looked in /usr/lib/jvm)" >&2
  exit 2
fi
export JAVA_HOME=$_vhost_jdk PATH=$_vhost_jdk/bin:$PATH
unset _c _vhost_jdk
