"""Base prompts of the heldout-if suite, written for seedtune (no text from IFEval or any dataset).

Each line: the request | two words that fit its topic (used by keyword constraints).
YES_NO lines are questions that a fixed yes/no/maybe reply can answer.
"""

EN = """
Describe what a lighthouse keeper might do on a stormy night. | lamp; waves
Write a short note thanking a neighbour for watering your plants. | garden; week
Explain how a bicycle gear helps a rider climb a hill. | pedal; chain
Give advice to someone starting their first vegetable patch. | soil; seeds
Describe the smell and sounds of a busy morning market. | fruit; stalls
Write a postcard message from a trip to the mountains. | snow; trail
Explain why bread dough rises before baking. | yeast; oven
Tell a child what happens to a caterpillar inside its cocoon. | butterfly; wings
Describe a perfect lazy Sunday afternoon. | book; tea
Explain how to keep a houseplant alive while on holiday. | water; sunlight
Write a welcome message for new members of a chess club. | board; tournament
Describe how a river changes from its source to the sea. | valley; delta
Give tips for packing a suitcase for a week-long trip. | clothes; shoes
Explain why cats like to sleep in boxes. | warm; safe
Write a short speech for a friend's retirement party. | career; future
Describe the view from the top of a tall city tower. | streets; lights
Explain how a library decides which new books to buy. | readers; budget
Give advice on writing a clear email to a busy manager. | subject; request
Describe what a firefighter's typical shift looks like. | truck; alarm
Explain why some birds fly south in autumn. | winter; food
Write a review of an imaginary science museum. | exhibits; children
Describe how to make a simple paper boat. | fold; corner
Explain the rules of rock, paper, scissors to a newcomer. | hand; round
Write a letter to your future self ten years from now. | dreams; habits
Describe a thunderstorm from the point of view of a dog. | thunder; couch
Give advice for staying focused while studying at home. | desk; phone
Explain why the moon seems to change shape during a month. | sun; orbit
Describe an old wooden house at the edge of a forest. | porch; trees
Write an invitation to a neighbourhood picnic. | park; blankets
Explain how recycling glass bottles saves energy. | furnace; sand
Describe the job of a beekeeper in spring. | hive; honey
Give tips for taking better photos with a phone camera. | light; angle
Explain why people yawn. | tired; brain
Write a short story opening about a lost umbrella. | rain; station
Describe how a farmer prepares a field for planting. | tractor; soil
Explain what makes a good team captain. | trust; players
Give advice to someone nervous about public speaking. | audience; practice
Describe the first snowfall of the year in a small town. | roofs; silence
Explain how a compass helps hikers find their way. | needle; north
Write a thank-you note to a teacher at the end of the school year. | lessons; patience
Describe a day in the life of a city bus driver. | passengers; route
Explain why we should wear sunscreen even on cloudy days. | skin; rays
Give tips for a first camping trip in the woods. | tent; fire
Describe how a potter shapes a bowl on a wheel. | clay; hands
Explain what a volcano is to a curious ten-year-old. | lava; mountain
Write a product description for a handmade wool scarf. | warm; colour
Describe the inside of a busy restaurant kitchen. | chef; orders
Explain how bees help flowers make fruit. | pollen; flowers
Give advice for learning to play the guitar as an adult. | chords; fingers
Describe a walk along a beach at sunset. | sand; shells
Explain why regular sleep matters for teenagers. | energy; mood
Write a short announcement that the office kitchen will be cleaned on Friday. | fridge; labels
Describe how a spider builds its web. | silk; threads
Explain how a savings account helps people reach goals. | interest; money
Give tips for keeping a kitchen tidy while cooking. | sink; towels
Describe what you might find in a grandparent's attic. | photos; boxes
Explain how a train stays on its tracks. | wheels; rails
Write a motivational message for runners before a marathon. | finish; miles
Describe a crowded train station during a holiday. | tickets; families
Explain why leaves change colour in autumn. | green; red
Give advice for choosing a first pet. | time; space
Describe a quiet morning in a fishing village. | boats; nets
Explain how a thermometer measures temperature. | scale; heat
Write a complaint to a landlord about a broken heater. | cold; repair
Describe how a snowman is built, step by step. | ball; scarf
Explain what a budget is and why families use one. | spending; plan
Give tips for making new friends after moving to a new city. | clubs; neighbours
Describe the work of a night-shift nurse. | patients; care
Explain why the ocean is salty. | rivers; minerals
Write a short poem about a cup of coffee. | morning; steam
Describe an afternoon at a county fair. | rides; games
Explain how an umbrella keeps a person dry. | fabric; handle
Give advice for planning a surprise birthday party. | guests; cake
Describe the sounds of a forest at night. | owls; wind
Explain how a dentist checks for cavities. | teeth; mirror
Write a farewell message to a colleague moving abroad. | adventure; team
Describe a fox exploring a city park at dawn. | bins; grass
Explain how wind turbines make electricity. | blades; power
Give tips for keeping a journal every day. | pages; thoughts
Describe how a baker starts the day before sunrise. | flour; ovens
Explain why some people are left-handed. | hand; genes
Write a short guide to visiting a museum with toddlers. | snacks; breaks
Describe a garden after a heavy rain. | puddles; worms
Explain how a simple pulley makes lifting easier. | rope; weight
Give advice for saving money on groceries. | list; prices
Describe what astronauts see when they look back at Earth. | clouds; oceans
Explain how a vaccine trains the body's defences. | immune; virus
Write a welcome note for guests staying in a holiday cottage. | keys; fireplace
Describe the life of a street cat in winter. | shelter; food
Explain how a map shows hills and valleys. | lines; height
Give tips for writing a good birthday card. | memory; wishes
Describe an ice-skating rink on a winter evening. | skates; music
Explain why it is hard to walk on the moon. | gravity; suit
Write an apology to a friend for missing their concert. | music; sorry
Describe the routine of a zookeeper who looks after elephants. | trunk; water
Explain how a refrigerator keeps food cold. | heat; coils
Give advice for a student's first day at university. | campus; lectures
Describe a summer thunderstorm over wheat fields. | lightning; farmers
Explain why the sea has tides. | moon; shore
Write a short biography of an imaginary inventor. | workshop; invention
Describe how to brew a good pot of tea. | leaves; kettle
Explain what a rainforest is and why it matters. | trees; species
Give tips for running a friendly book club. | chapters; snacks
Describe a lost hiker finding a cabin in the woods. | path; door
Explain how people measured time before clocks. | shadow; sundial
Write a short review of your favourite board game. | dice; friends
Describe a marathon from the point of view of a spectator. | runners; cheers
Explain how honey is made. | nectar; bees
Give advice to a new driver about driving at night. | headlights; speed
Describe the busiest hour at a coffee shop. | queue; cups
Explain why exercise improves mood. | body; stress
Write a note to a neighbour about a lost cat. | collar; reward
Describe a hot-air balloon ride over green hills. | basket; sky
Explain how a kite flies. | wind; string
Give tips for keeping a small balcony garden. | pots; herbs
Describe the first day of spring in a city. | blossoms; coats
Explain how a fire extinguisher works. | foam; flames
Write a speech to open a school sports day. | races; teams
Describe an old bookshop in a narrow street. | shelves; dust
Explain why recycling paper saves trees. | pulp; forests
Give advice for cooking a meal for a large family. | pot; recipe
Describe a harbour on a foggy morning. | ships; horns
Explain what a rainbow is made of. | light; drops
Write a short fable about a patient turtle. | race; rabbit
Describe the work of a mail carrier in a village. | letters; bicycle
Explain why people should wash their hands often. | germs; soap
Give tips for reading more books in a year. | minutes; habit
Describe a winter market with food stalls. | cocoa; lanterns
Explain how solar panels turn sunlight into power. | cells; roof
Write an email asking a professor for a meeting. | office; question
Describe a night sky far from any city. | stars; silence
Explain how a seed grows into a plant. | roots; water
Give advice for keeping a long-distance friendship alive. | calls; visits
Describe a rainy day in a train carriage. | windows; passengers
Explain why music can make people feel nostalgic. | songs; memories
Write a short story about a robot learning to cook. | kitchen; recipe
Describe the activities at a summer camp. | lake; cabins
Explain how ants find their way back to the nest. | scent; trail
Give tips for a healthy breakfast on busy mornings. | fruit; oats
Describe a street festival with music and dancing. | drums; crowd
Explain how a submarine dives and rises. | tanks; water
Write a short message congratulating a friend on a new job. | office; proud
Describe a mountain village in autumn. | chimneys; leaves
Explain what makes a password strong. | letters; length
Give advice for organising a messy wardrobe. | hangers; shelves
Describe a visit to an aquarium. | sharks; tanks
Explain why bridges have expansion joints. | heat; steel
"""

ZH = """
描述一个灯塔看守人在暴风雨夜里做的事。 | 灯光; 海浪
给邻居写一张便条，感谢他帮你浇花。 | 花园; 感谢
介绍一下自行车变速器如何帮助骑车人上坡。 | 踏板; 链条
给第一次种菜的人一些建议。 | 泥土; 种子
描写清晨菜市场的热闹景象。 | 蔬菜; 摊位
写一张从山区旅行寄回家的明信片。 | 雪山; 小路
解释面团在烘烤前为什么会发起来。 | 酵母; 温度
向小朋友讲讲毛毛虫在茧里发生了什么。 | 蝴蝶; 翅膀
描写一个悠闲的周日下午。 | 阳光; 茶
说说出门旅行时怎样让盆栽保持存活。 | 浇水; 阳光
为象棋俱乐部的新成员写一段欢迎词。 | 棋盘; 比赛
描述一条河从源头流到大海的变化。 | 山谷; 入海口
给准备出差一周的人一些收拾行李的建议。 | 衣服; 鞋子
解释猫为什么喜欢钻进纸箱睡觉。 | 温暖; 安全
为朋友的退休聚会写一段简短致辞。 | 工作; 未来
描写从城市高楼顶上看到的夜景。 | 街道; 灯火
说说图书馆是怎样决定采购哪些新书的。 | 读者; 预算
给想写清楚工作邮件的人一些建议。 | 主题; 请求
描述消防员一天的值班生活。 | 消防车; 警报
解释有些鸟为什么秋天要飞往南方。 | 冬天; 食物
为一座想象中的科技馆写一段参观评价。 | 展品; 孩子
介绍怎样折一只简单的纸船。 | 折叠; 船头
向刚认识的朋友解释石头剪刀布的规则。 | 手势; 输赢
给十年后的自己写一封信。 | 梦想; 习惯
从一只小狗的角度描写一场雷雨。 | 雷声; 沙发
给在家学习容易分心的人一些建议。 | 书桌; 手机
解释月亮为什么每个月会有圆缺变化。 | 太阳; 轨道
描写森林边上一座老木屋。 | 门廊; 树林
写一份邻里野餐会的邀请函。 | 公园; 餐布
说明回收玻璃瓶为什么能节省能源。 | 熔炉; 沙子
描述养蜂人春天的工作。 | 蜂箱; 蜂蜜
给用手机拍照的人一些拍得更好的技巧。 | 光线; 角度
解释人为什么会打哈欠。 | 疲劳; 大脑
写一个关于丢失雨伞的故事开头。 | 下雨; 车站
描述农民播种前怎样整理田地。 | 拖拉机; 泥土
说说一个好的队长需要具备哪些品质。 | 信任; 队员
给害怕当众讲话的人一些建议。 | 观众; 练习
描写小镇今年的第一场雪。 | 屋顶; 安静
解释指南针怎样帮助徒步的人辨别方向。 | 指针; 北方
写一封学期结束时感谢老师的短信。 | 课堂; 耐心
描述公交车司机平常的一天。 | 乘客; 线路
解释阴天为什么也要涂防晒霜。 | 皮肤; 紫外线
给第一次去野外露营的人一些建议。 | 帐篷; 篝火
描述陶艺师在转盘上做碗的过程。 | 陶土; 双手
向十岁的孩子解释什么是火山。 | 岩浆; 山
为一条手工羊毛围巾写一段商品介绍。 | 保暖; 颜色
描写饭店后厨忙碌的场景。 | 厨师; 订单
解释蜜蜂怎样帮助花朵结出果实。 | 花粉; 花朵
给成年后才开始学吉他的人一些建议。 | 和弦; 手指
描写傍晚沿着海滩散步的情景。 | 沙滩; 贝壳
解释规律的睡眠对青少年为什么重要。 | 精力; 情绪
写一则通知，告诉同事周五要清理办公室冰箱。 | 冰箱; 标签
描述蜘蛛是怎样织网的。 | 蛛丝; 网
解释储蓄账户怎样帮助人们实现目标。 | 利息; 存钱
给做饭时厨房总是很乱的人一些建议。 | 水槽; 抹布
描写爷爷奶奶家阁楼里可能藏着的东西。 | 照片; 箱子
解释火车为什么能稳稳地在铁轨上行驶。 | 车轮; 铁轨
为马拉松选手写一段赛前鼓励的话。 | 终点; 坚持
描写节假日火车站里拥挤的景象。 | 车票; 家人
解释秋天树叶为什么会变色。 | 绿色; 红色
给第一次养宠物的人一些选择建议。 | 时间; 空间
描写渔村一个安静的早晨。 | 渔船; 渔网
说明温度计是怎样测量温度的。 | 刻度; 热量
给房东写一封信，反映暖气坏了的问题。 | 寒冷; 维修
一步一步介绍怎样堆一个雪人。 | 雪球; 围巾
解释什么是家庭预算，以及为什么要做预算。 | 开支; 计划
给刚搬到新城市的人一些交朋友的建议。 | 社团; 邻居
描述夜班护士的工作。 | 病人; 照顾
解释海水为什么是咸的。 | 河流; 矿物质
写一首关于一杯咖啡的小诗。 | 早晨; 热气
描写庙会上热闹的一个下午。 | 小吃; 游戏
解释风力发电机是怎样发电的。 | 叶片; 电力
给坚持每天写日记的人一些建议。 | 本子; 想法
描写面包师天亮前开始一天工作的情景。 | 面粉; 烤箱
写一份带小孩参观博物馆的简单指南。 | 零食; 休息
描写一场大雨过后的花园。 | 水洼; 蚯蚓
给想在买菜上省钱的人一些建议。 | 清单; 价格
描述宇航员从太空回望地球时看到的景象。 | 云层; 海洋
写一段欢迎客人入住乡村民宿的留言。 | 钥匙; 壁炉
描写一只流浪猫在冬天的生活。 | 避风; 食物
解释等高线地图是怎样表示山和谷的。 | 线条; 高度
描写冬夜的溜冰场。 | 冰鞋; 音乐
解释为什么在月球上走路很困难。 | 重力; 宇航服
给朋友写一段道歉的话，因为错过了他的音乐会。 | 音乐; 抱歉
解释冰箱是怎样让食物保持低温的。 | 热量; 管道
给大学新生第一天入学一些建议。 | 校园; 课程
解释蜂蜜是怎样酿成的。 | 花蜜; 蜜蜂
给新手司机一些夜间开车的建议。 | 车灯; 速度
描写咖啡店最忙的一个小时。 | 排队; 杯子
解释运动为什么能让人心情变好。 | 身体; 压力
描写乘热气球飞过绿色山丘的经历。 | 吊篮; 天空
解释风筝为什么能飞起来。 | 风; 线
给在阳台上种花草的人一些建议。 | 花盆; 香草
描写城市里春天的第一天。 | 花开; 外套
写一段学校运动会的开幕致辞。 | 比赛; 班级
描写小巷里一家旧书店。 | 书架; 灰尘
解释彩虹是怎样形成的。 | 阳光; 水滴
写一个关于耐心的乌龟的寓言故事。 | 比赛; 兔子
描写远离城市的夜空。 | 星星; 安静
解释一颗种子是怎样长成植物的。 | 根; 水分
"""

EN_YES_NO = """
Is it a good idea to water houseplants every single day? | roots; soil
Should a beginner runner train for a marathon in one month? | weeks; injury
Can a goldfish live happily in a small bowl? | tank; water
Is it safe to swim right after eating a big meal? | stomach; cramps
Should children learn to cook simple meals? | kitchen; skills
Is reading on a screen as good as reading on paper? | eyes; pages
Would a four-day working week make people happier? | rest; work
Is it wise to buy a car without a test drive? | seller; engine
Should schools start later in the morning? | sleep; students
Can dogs understand human words? | commands; tone
Is walking to work better than driving? | health; traffic
Should people switch off their phones at dinner? | family; talk
"""

ZH_YES_NO = """
每天给室内植物浇水是个好主意吗？ | 根; 泥土
刚开始跑步的人应该一个月后就去跑马拉松吗？ | 训练; 受伤
金鱼养在小鱼缸里能活得好吗？ | 水族箱; 水
吃完大餐马上游泳安全吗？ | 肚子; 抽筋
孩子应该学着做简单的饭菜吗？ | 厨房; 技能
在屏幕上阅读和读纸质书一样好吗？ | 眼睛; 书页
每周只工作四天会让人更快乐吗？ | 休息; 工作
中小学应该推迟早上的上课时间吗？ | 睡眠; 学生
"""


def parse(block: str) -> list[tuple[str, list[str]]]:
    rows = []
    for line in block.strip().splitlines():
        text, _, words = line.partition("|")
        rows.append((text.strip(), [w.strip() for w in words.split(";") if w.strip()]))
    return rows
