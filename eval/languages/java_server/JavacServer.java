// A long-lived javac for eval's Java runner: one JVM compiles program after program, so each
// compile costs tens of milliseconds instead of a JVM start (most of Java's evaluation time).
//
// It only compiles, in memory: no annotation processors, no class path but the JDK, no files
// read or written. Protocol on stdin/stdout, integers big-endian (DataInput/DataOutput):
//   request:  int n, n bytes of UTF-8 source of Main.java
//   response: int ok (1 or 0), int k, k times (int n, n bytes class name, int m, m bytes class file),
//             int n, n bytes of UTF-8 diagnostics (javac's command-line format)
// It exits at end of input.
import java.io.*;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.*;
import javax.tools.*;

public class JavacServer {
    static final List<String> OPTIONS = List.of("-proc:none", "-nowarn", "-classpath", "/nonexistent-mft-eval");

    static class Memory extends ForwardingJavaFileManager<StandardJavaFileManager> {
        final Map<String, ByteArrayOutputStream> classes = new LinkedHashMap<>();

        Memory(StandardJavaFileManager files) {
            super(files);
        }

        @Override
        public JavaFileObject getJavaFileForOutput(Location location, String name, JavaFileObject.Kind kind, FileObject sibling) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            classes.put(name, bytes);
            return new SimpleJavaFileObject(URI.create("mem:///" + name.replace('.', '/') + kind.extension), kind) {
                @Override
                public OutputStream openOutputStream() {
                    return bytes;
                }
            };
        }
    }

    static void writeBytes(DataOutputStream out, byte[] bytes) throws IOException {
        out.writeInt(bytes.length);
        out.write(bytes);
    }

    public static void main(String[] args) throws Exception {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        StandardJavaFileManager files = javac.getStandardFileManager(null, null, StandardCharsets.UTF_8);
        DataInputStream in = new DataInputStream(new BufferedInputStream(System.in));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(System.out));
        while (true) {
            int length;
            try {
                length = in.readInt();
            } catch (EOFException end) {
                return;
            }
            byte[] raw = new byte[length];
            in.readFully(raw);
            String source = new String(raw, StandardCharsets.UTF_8);
            JavaFileObject unit = new SimpleJavaFileObject(URI.create("string:///Main.java"), JavaFileObject.Kind.SOURCE) {
                @Override
                public CharSequence getCharContent(boolean ignoreEncodingErrors) {
                    return source;
                }
            };
            Memory memory = new Memory(files);
            StringWriter diagnostics = new StringWriter();
            boolean ok;
            try {
                ok = javac.getTask(diagnostics, memory, null, OPTIONS, null, List.of(unit)).call();
            } catch (RuntimeException | StackOverflowError crash) {  // a compiler crash is this program's compile error
                ok = false;
                diagnostics.write("javac crashed: " + crash + "\n");
            }
            out.writeInt(ok ? 1 : 0);
            out.writeInt(ok ? memory.classes.size() : 0);
            if (ok) {
                for (Map.Entry<String, ByteArrayOutputStream> entry : memory.classes.entrySet()) {
                    writeBytes(out, entry.getKey().getBytes(StandardCharsets.UTF_8));
                    writeBytes(out, entry.getValue().toByteArray());
                }
            }
            writeBytes(out, diagnostics.toString().getBytes(StandardCharsets.UTF_8));
            out.flush();
        }
    }
}
