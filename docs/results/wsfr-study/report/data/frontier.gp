# Redraw with: cd <report dir> && gnuplot data/frontier.gp
set terminal svg size 980,540 font 'Helvetica,13' background rgb 'white'
set termoption noenhanced
set output 'plots/frontier.svg'
set border 3 lw 1 lc rgb '#555555'
set tics nomirror out scale 0.6
set grid xtics ytics lc rgb '#e8e8e8' lw 1 dt 1
set key outside right top box lc rgb '#dddddd' samplen 2 spacing 1.1 font ',11'
set datafile missing 'NaN'
set logscale x 10
set xlabel 'training FLOPs  C = 3 (W + S) tokens'
set ylabel 'final loss (nats/token)'
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
set key font ',10'
set xrange [6.67025198e+12:4.50013365e+14]
set xtics ('1e13' 1e+13, '2e13' 2e+13, '3e13' 3e+13, '5e13' 5e+13, '1e14' 1e+14, '2e14' 2e+14, '3e14' 3e+14)
frontier(x) = 0.425704687 + 54236.1571 * x**(-0.344310795)
plot 'data/frontier.dat' index 0 using 1:2 with points pt 7 ps 1.1 lc rgb '#0072B2' title 'power p=1 d=64 h=2', \
     'data/frontier.dat' index 1 using 1:2 with points pt 7 ps 1.1 lc rgb '#D55E00' title 'power p=1 d=128 h=4', \
     'data/frontier.dat' index 2 using 1:2 with points pt 7 ps 1.1 lc rgb '#009E73' title 'power p=1 d=256 h=8', \
     'data/frontier.dat' index 3 using 1:2 with points pt 7 ps 1.1 lc rgb '#CC79A7' title 'power p=2 d=32 h=1', \
     'data/frontier.dat' index 4 using 1:2 with points pt 7 ps 1.1 lc rgb '#E69F00' title 'power p=2 d=64 h=2', \
     'data/frontier.dat' index 5 using 1:2 with points pt 7 ps 1.1 lc rgb '#56B4E9' title 'power p=2 d=96 h=3', \
     'data/frontier.dat' index 6 using 1:2 with points pt 7 ps 1.1 lc rgb '#882255' title 'power p=2 d=128 h=2', \
     'data/frontier.dat' index 7 using 1:2 with points pt 7 ps 1.1 lc rgb '#117733' title 'power p=2 d=128 h=4', \
     'data/frontier.dat' index 8 using 1:2 with points pt 7 ps 1.1 lc rgb '#332288' title 'power p=2 d=128 h=8', \
     'data/frontier.dat' index 9 using 1:2 with points pt 7 ps 1.1 lc rgb '#999933' title 'power p=2 d=128 h=16', \
     'data/frontier.dat' index 10 using 1:2 with points pt 7 ps 1.1 lc rgb '#AA4499' title 'power p=2 d=192 h=6', \
     'data/frontier.dat' index 11 using 1:2 with points pt 7 ps 1.1 lc rgb '#44AA99' title 'power p=2 d=256 h=8', \
     'data/frontier.dat' index 12 using 1:2 with points pt 7 ps 1.1 lc rgb '#0072B2' title 'power p=2 d=384 h=12', \
     'data/frontier.dat' index 13 using 1:2 with points pt 7 ps 1.1 lc rgb '#D55E00' title 'softmax d=64', \
     'data/frontier.dat' index 14 using 1:2 with points pt 7 ps 1.1 lc rgb '#009E73' title 'softmax d=128', \
     'data/frontier.dat' index 15 using 1:2 with points pt 7 ps 1.1 lc rgb '#CC79A7' title 'softmax d=256', \
     'data/frontier.dat' index 16 using 1:2 with points pt 7 ps 1.1 lc rgb '#E69F00' title 'window w=128 d=128', \
     'data/frontier.dat' index 17 using 1:2 with points pt 7 ps 1.1 lc rgb '#56B4E9' title 'window w=16 d=128', \
     'data/frontier.dat' index 18 using 1:2 with points pt 7 ps 1.1 lc rgb '#882255' title 'window w=2048 d=128', \
     'data/frontier.dat' index 19 using 1:2 with points pt 7 ps 1.1 lc rgb '#117733' title 'window w=32 d=128', \
     'data/frontier.dat' index 20 using 1:2 with points pt 7 ps 1.1 lc rgb '#332288' title 'window w=512 d=128', \
     'data/frontier.dat' index 21 using 1:2 with points pt 12 ps 2.2 lw 1.5 lc rgb '#222222' title 'budget optimum', \
     frontier(x) with lines lw 2 dt 2 lc rgb '#222222' title sprintf('L = %.3g + %.3g C^-%.3g', 0.425704687, 54236.1571, 0.344310795)
