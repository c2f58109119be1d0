// Writes JSON lines {"seq":N,...} through a real Log4j 2 RollingFile appender configured by the
// XML file given in -Dlog4j2.configurationFile (logger "audit").
// Usage: Log4j2Writer <first seq> <count> <lines per second, 0 = flat out> [pad]
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;

public class Log4j2Writer {
    public static void main(String[] a) throws Exception {
        Logger log = LogManager.getLogger("audit");
        long first = Long.parseLong(a[0]), count = Long.parseLong(a[1]);
        double rate = Double.parseDouble(a[2]);
        String pad = a.length > 3 ? a[3] : "x";
        long t0 = System.nanoTime();
        for (long i = 0; i < count; i++) {
            log.info("{\"seq\":" + (first + i) + ",\"pad\":\"" + pad + "\"}");
            if (rate > 0) {
                long due = t0 + (long) ((i + 1) * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) Thread.sleep(wait / 1000000, (int) (wait % 1000000));
            }
        }
        LogManager.shutdown();
    }
}
